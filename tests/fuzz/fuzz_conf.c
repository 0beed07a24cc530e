/* libFuzzer target: the config file syntax parser (core/conf.c). */
#include <stddef.h>
#include <stdint.h>

#include "core/conf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    sv_conf_node *tree = NULL;
    char err[256];
    if (sv_conf_parse((const char *)data, size, &tree, err, sizeof err) == 0)
        sv_conf_free(tree);
    return 0;
}
