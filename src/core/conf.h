/* Config file syntax: nginx/Flussonic-style directives.
 *
 *   # comment
 *   http_port 8080;
 *   stream live/cam1 {
 *       input rtsp://cam/stream;
 *       dvr { root /storage; expiration 86400; }
 *   }
 *
 * A directive is a name, zero or more arguments, then ';' or a '{ ... }' block of child
 * directives. Arguments are bare words or "double-quoted strings" (\" \\ \n escapes).
 * The parser is pure (text in, tree out) and records the line of every directive so
 * errors name file:line. What the directives mean is config.c's business. */
#ifndef SV_CORE_CONF_H
#define SV_CORE_CONF_H

#include <stddef.h>

typedef struct sv_conf_node {
    char *name;
    char **args;
    int nargs;
    int line;
    int has_block;
    struct sv_conf_node *children; /* first child */
    struct sv_conf_node *next;     /* next sibling */
} sv_conf_node;

/* Parses text. On success returns 0 and *out (a list of top-level nodes, may be NULL for
 * an empty file). On error returns SV_EINVAL and writes "line N: reason" into err. */
int sv_conf_parse(const char *text, size_t len, sv_conf_node **out, char *err, size_t errlen);
void sv_conf_free(sv_conf_node *n); /* frees a sibling list recursively; NULL-safe */

#endif
