/* Numbers in metrics.jsonl's records: JSON has no NaN or infinity, so a value that is not
 * finite (a diverged run's loss, a noise-scale ratio over 0) is written as null. */
#ifndef GNET_JSON_H
#define GNET_JSON_H

#include <math.h>
#include <stddef.h>
#include <stdio.h>

/* v printed with fmt into buf[n], or "null"; returns the text. */
static inline const char *gnet_json_num(char *buf, size_t n, const char *fmt, double v)
{
    if (!isfinite(v))
        return "null";
    (void)snprintf(buf, n, fmt, v);
    return buf;
}

#endif
