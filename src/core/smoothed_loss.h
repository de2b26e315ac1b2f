/* One row's label-smoothed cross-entropy (backend.h, softmax_xent), a single definition for
 * the CPU backend and the CUDA kernel, so that both compute it with the same operations in
 * the same order. C11 and CUDA C++ alike. */
#ifndef GNET_SMOOTHED_LOSS_H
#define GNET_SMOOTHED_LOSS_H

#ifdef __CUDACC__
#define GNET_HOST_DEVICE __host__ __device__
#else
#define GNET_HOST_DEVICE
#endif

/* q_k, the smoothed target of class k: (1 - eps) + eps/classes for the label, eps/classes for
 * the others; with eps = 0 exactly 1 and 0, so dlogits = p - q keep their unsmoothed bits. */
static inline GNET_HOST_DEVICE float gnet_smoothed_target(float eps, int classes, int is_label)
{
    float off = eps / (float)classes;
    return is_label ? 1.0f - eps + off : off;
}

/* -sum_k q_k log p_k for q = (1 - eps) onehot + eps/classes, as PyTorch splits it:
 * (1 - eps) nll + eps/classes sum_k -log p_k, where log p_k = z[k] - z[arg] - log_sum (arg:
 * the row's argmax) and nll = -log p_label. eps = 0 returns the nll itself: the unsmoothed
 * loss, bit for bit, whatever the other classes' terms hold. */
static inline GNET_HOST_DEVICE double gnet_smoothed_loss(const float *z, int classes, int arg,
                                                         float log_sum, float nll, float eps)
{
    if (eps == 0.0f)
        return nll;
    float all = 0.0f;
    for (int j = 0; j < classes; j++)
        all += log_sum - (z[j] - z[arg]);
#ifdef __CUDA_ARCH__
    /* nvcc would contract a product and a sum into an FMA; the CPU rounds each (C11). */
    return __dadd_rn(__dmul_rn(1.0 - (double)eps, nll), __dmul_rn((double)eps / classes, all));
#else
    return (1.0 - (double)eps) * nll + (double)eps / classes * all;
#endif
}

#endif
