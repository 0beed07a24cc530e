/* Config syntax parser (see conf.h): a hand-written tokenizer and a recursive-descent
 * parser with a nesting cap. Bounded: at most 64 args per directive, 16 levels of
 * nesting, 1 MiB of input (the caller enforces the file size). */
#include "core/conf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"

#define MAX_ARGS 64
#define MAX_DEPTH 16

typedef struct {
    const char *p, *end;
    int line;
    char *err;
    size_t errlen;
} lexer;

enum { T_EOF, T_WORD, T_SEMI, T_OPEN, T_CLOSE, T_ERR };

static void skip_space(lexer *lx)
{
    while (lx->p < lx->end) {
        char c = *lx->p;
        if (c == '\n') {
            lx->line++;
            lx->p++;
        } else if (c == ' ' || c == '\t' || c == '\r') {
            lx->p++;
        } else if (c == '#') {
            while (lx->p < lx->end && *lx->p != '\n')
                lx->p++;
        } else {
            break;
        }
    }
}

static int lex_quoted(lexer *lx, char **word)
{
    size_t cap = 32, n = 0;
    char *w = malloc(cap);
    if (!w)
        return T_ERR;
    for (lx->p++; lx->p < lx->end && *lx->p != '"'; lx->p++) {
        char c = *lx->p;
        if (c == '\n')
            lx->line++;
        if (c == '\\' && lx->p + 1 < lx->end) {
            c = *++lx->p;
            c = c == 'n' ? '\n' : c == 't' ? '\t' : c;
        }
        if (n + 2 > cap) {
            char *t = realloc(w, cap *= 2);
            if (!t) {
                free(w);
                return T_ERR;
            }
            w = t;
        }
        w[n++] = c;
    }
    if (lx->p >= lx->end) {
        free(w);
        snprintf(lx->err, lx->errlen, "line %d: unterminated string", lx->line);
        return T_ERR;
    }
    lx->p++;
    w[n] = '\0';
    *word = w;
    return T_WORD;
}

static int lex(lexer *lx, char **word)
{
    skip_space(lx);
    if (lx->p >= lx->end)
        return T_EOF;
    char c = *lx->p;
    if (c == ';' || c == '{' || c == '}') {
        lx->p++;
        return c == ';' ? T_SEMI : c == '{' ? T_OPEN : T_CLOSE;
    }
    if (c == '"')
        return lex_quoted(lx, word);
    const char *s = lx->p;
    while (lx->p < lx->end && !strchr(" \t\r\n;{}#\"", *lx->p))
        lx->p++;
    *word = strndup(s, (size_t)(lx->p - s));
    return *word ? T_WORD : T_ERR;
}

static int parse_list(lexer *lx, int depth, int closing, sv_conf_node **out);

static int parse_directive(lexer *lx, char *name, int depth, sv_conf_node **out)
{
    sv_conf_node *n = calloc(1, sizeof *n);
    if (!n) {
        free(name);
        return SV_ENOMEM;
    }
    n->name = name;
    n->line = lx->line;
    n->args = calloc(MAX_ARGS, sizeof *n->args);
    *out = n;
    if (!n->args)
        return SV_ENOMEM;
    for (;;) {
        char *w = NULL;
        int t = lex(lx, &w);
        if (t == T_WORD) {
            if (n->nargs == MAX_ARGS) {
                free(w);
                snprintf(lx->err, lx->errlen, "line %d: too many arguments", lx->line);
                return SV_EINVAL;
            }
            n->args[n->nargs++] = w;
        } else if (t == T_SEMI) {
            return 0;
        } else if (t == T_OPEN) {
            n->has_block = 1;
            if (depth + 1 >= MAX_DEPTH) {
                snprintf(lx->err, lx->errlen, "line %d: blocks nested too deep", lx->line);
                return SV_EINVAL;
            }
            return parse_list(lx, depth + 1, 1, &n->children);
        } else {
            if (t != T_ERR)
                snprintf(lx->err, lx->errlen, "line %d: expected ';' after '%s'", n->line,
                         name);
            return SV_EINVAL;
        }
    }
}

static int parse_list(lexer *lx, int depth, int closing, sv_conf_node **out)
{
    sv_conf_node **tail = out;
    for (;;) {
        char *w = NULL;
        int t = lex(lx, &w);
        if (t == T_EOF) {
            if (!closing)
                return 0;
            snprintf(lx->err, lx->errlen, "line %d: missing '}'", lx->line);
            return SV_EINVAL;
        }
        if (t == T_CLOSE && closing)
            return 0;
        if (t != T_WORD) {
            if (t != T_ERR)
                snprintf(lx->err, lx->errlen, "line %d: unexpected '%s'", lx->line,
                         t == T_SEMI ? ";" : t == T_OPEN ? "{" : "}");
            return SV_EINVAL;
        }
        int rc = parse_directive(lx, w, depth, tail);
        if (*tail)
            tail = &(*tail)->next;
        if (rc)
            return rc;
    }
}

int sv_conf_parse(const char *text, size_t len, sv_conf_node **out, char *err, size_t errlen)
{
    lexer lx = {text, text + len, 1, err, errlen};
    *out = NULL;
    if (errlen)
        err[0] = '\0';
    int rc = parse_list(&lx, 0, 0, out);
    if (rc) {
        if (rc == SV_ENOMEM)
            snprintf(err, errlen, "line %d: out of memory", lx.line);
        sv_conf_free(*out);
        *out = NULL;
        return SV_EINVAL;
    }
    return 0;
}

void sv_conf_free(sv_conf_node *n)
{
    while (n) {
        sv_conf_node *next = n->next;
        for (int i = 0; i < n->nargs; i++)
            free(n->args[i]);
        free(n->args);
        free(n->name);
        sv_conf_free(n->children);
        free(n);
        n = next;
    }
}
