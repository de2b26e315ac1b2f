/* Bilinear resize of one 8-bit grey image, byte-exact with torchvision's Resize on a PIL
 * 'L' image, i.e. Pillow's Image.resize((dw, dh), BILINEAR) (Resample.c): per-output
 * filter weights whose support widens by the scale when shrinking (antialiasing),
 * weights in 22-bit fixed point, a horizontal pass then a vertical pass, and a pass left
 * out when its dimension does not change. Sizes are 1..4096 in every dimension.
 *
 * Two ways in, with the same results:
 *   - gnet_resize_u8: a pure function; the caller supplies the scratch and the weights
 *     are recomputed on every call.
 *   - gnet_resize_plan: the weights are computed once per size pair, for the training
 *     loop. A plan is never written after it is made, so threads may share one, each
 *     with its own tmp buffer. */
#ifndef GNET_RESIZE_H
#define GNET_RESIZE_H

#include <stddef.h>
#include <stdint.h>

/* Scratch needed by gnet_resize_u8 (8-byte alignment is enough, e.g. malloc). */
size_t gnet_resize_scratch_bytes(int sh, int sw, int dh, int dw);
/* src is sh x sw, dst is dh x dw, both row-major and densely packed. */
void gnet_resize_u8(const uint8_t *src, int sh, int sw, uint8_t *dst, int dh, int dw,
                    void *scratch);

typedef struct gnet_resize_plan gnet_resize_plan;
/* NULL (with an error line) on bad sizes or out of memory. */
gnet_resize_plan *gnet_resize_plan_create(int sh, int sw, int dh, int dw);
/* Size of the tmp buffer that each gnet_resize_plan_apply call needs (may be 0). */
size_t gnet_resize_plan_tmp_bytes(const gnet_resize_plan *p);
void gnet_resize_plan_apply(const gnet_resize_plan *p, const uint8_t *src, uint8_t *dst, void *tmp);
void gnet_resize_plan_free(gnet_resize_plan *p);

#endif
