/* See auth.h. */
#include "http/auth.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static bool equal_ct(const char *a, size_t alen, const char *b)
{
    size_t blen = strlen(b);
    return alen == blen && CRYPTO_memcmp(a, b, blen) == 0;
}

static bool check_basic(const char *b64, const char *user, const char *pass)
{
    size_t len = strlen(b64);
    while (len && (b64[len - 1] == ' ' || b64[len - 1] == '\t'))
        len--;
    if (len == 0 || len > 1024 || len % 4)
        return false;
    unsigned char out[800];
    int n = EVP_DecodeBlock(out, (const unsigned char *)b64, (int)len);
    if (n < 0)
        return false;
    /* EVP_DecodeBlock counts padding as zero bytes: drop them */
    for (size_t i = len; i > 0 && b64[i - 1] == '='; i--)
        n--;
    const char *colon = memchr(out, ':', (size_t)n);
    if (!colon)
        return false;
    size_t ulen = (size_t)(colon - (const char *)out);
    bool ok_user = equal_ct((const char *)out, ulen, user);
    bool ok_pass = equal_ct(colon + 1, (size_t)n - ulen - 1, pass);
    return ok_user & ok_pass;
}

bool sv_auth_check_admin(const char *header, const char *user, const char *pass)
{
    if (!header || !user || !pass)
        return false;
    while (*header == ' ')
        header++;
    if (!strncasecmp(header, "Basic ", 6))
        return check_basic(header + 6, user, pass);
    if (!strncasecmp(header, "Bearer ", 7)) {
        const char *t = header + 7;
        while (*t == ' ')
            t++;
        size_t len = strcspn(t, " \t");
        return equal_ct(t, len, pass);
    }
    return false;
}

/* hex of the first 16 bytes of HMAC-SHA256(secret, "name:expires") */
static void viewer_sig(const char *secret, const char *name, int64_t expires, char out[33])
{
    char msg[512];
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    int n = snprintf(msg, sizeof msg, "%s:%lld", name, (long long)expires);
    HMAC(EVP_sha256(), secret, (int)strlen(secret), (const unsigned char *)msg,
         (size_t)(n < (int)sizeof msg ? n : (int)sizeof msg - 1), mac, &len);
    static const char hex[] = "0123456789abcdef";
    for (int i = 0; i < 16; i++) {
        out[2 * i] = hex[mac[i] >> 4];
        out[2 * i + 1] = hex[mac[i] & 15];
    }
    out[32] = '\0';
}

void sv_auth_viewer_token(const char *secret, const char *name, int64_t expires, char *out)
{
    char sig[33];
    viewer_sig(secret, name, expires, sig);
    snprintf(out, SV_VIEWER_TOKEN_MAX, "%lld.%s", (long long)expires, sig);
}

bool sv_auth_viewer_check(const char *secret, const char *name, const char *token, int64_t now_s)
{
    if (!token || strlen(token) >= SV_VIEWER_TOKEN_MAX)
        return false;
    char *dot;
    long long expires = strtoll(token, &dot, 10);
    if (dot == token || *dot != '.' || expires < now_s)
        return false;
    char sig[33];
    viewer_sig(secret, name, expires, sig);
    return strlen(dot + 1) == 32 && CRYPTO_memcmp(dot + 1, sig, 32) == 0;
}
