/* Checkpoints: one HDF5 file that the PyTorch reference model can load with h5py
 * (model.load_state_dict({k: torch.from_numpy(f[k][()]) for k in model.state_dict()})).
 *
 * Layout:
 *   /<state_dict key>        float32 dataset per parameter, e.g. "0.0.weight" [64,1,7,7],
 *                            shape = spec.ndim/spec.shape, data = arena + spec.offset (OIHW)
 *   /<group>/<key>           the optimizer's state buffers, one group per kind, one dataset
 *                            per parameter (only those saved): /optimizer holds SGD's and
 *                            LARS's momentum buffer, /exp_avg and /exp_avg_sq Adam's moments
 *                            (AdamW, LAMB)
 *   /meta                    group with scalar attributes epoch, step, epoch_step (int64),
 *                            seed (uint64), batch_size, resize, ranks (int32), lr, momentum,
 *                            weight_decay, epoch_loss_sum, epoch_correct, epoch_seen,
 *                            epoch_seconds, run_seconds, train_seconds, train_images
 *                            (float64) and the string attribute config; optional (absent
 *                            in older files, read as 0): optimizer (int32), lars_eta,
 *                            since_loss, since_seen, gns_g2_ema, gns_tr_ema,
 *                            gns_weight, target_acc (float64), gns_steps, target_step (int64),
 *                            target_images, target_train_s, target_epoch, target_wall_s,
 *                            target_test_acc, label_smoothing, adam_beta1, adam_beta2,
 *                            adam_eps (float64), clip (int32), clip_norm, agc_lambda
 *                            (float64)
 *   root attributes          format = "gnet-checkpoint" (string), version = 3 (int32)
 * Every tensor dataset has a uint32 attribute crc32: zlib's CRC-32 of its float32
 * little-endian bytes (version 2; version 1 files had none and are refused). Version 3 files
 * start with a seal (core/filesum.h): an HDF5 user block of 512 bytes holding the file's size
 * and the CRC-32 of the rest, checked before libhdf5 parses the file (libhdf5 1.10 crashes
 * or allocates without bound on some damaged files); version 2 files (unsealed) still load.
 *
 * Saving is atomic: the file is written to "PATH.tmp.<pid>", flushed to disk and renamed
 * over PATH, so PATH is either the old checkpoint or the complete new one. PATH must be
 * absent or a regular file (gnet_output_check: never a FIFO, a device or a directory), and
 * every parameter and state value finite: otherwise nothing is written and PATH stays.
 * Loading checks everything (the seal, the file is HDF5, every name exists, float type, exact
 * rank and shape, each tensor's checksum, every value finite) and reads into scratch buffers
 * first, so on failure the caller's arrays are untouched: a flipped byte, a truncated file
 * or a NaN is refused, never loaded.
 * Every failure prints one line via gnet_errorf naming the file and the problem and
 * returns -1; success returns 0. Not thread-safe (HDF5 serial). */
#ifndef GNET_CHECKPOINT_H
#define GNET_CHECKPOINT_H

#include <stdint.h>

#include "core/params.h"

#define GNET_CKPT_FORMAT "gnet-checkpoint"
#define GNET_CKPT_VERSION 3
#define GNET_CKPT_UNSEALED_VERSION 2 /* still read: written before the seal */

typedef struct {
    int64_t epoch, step; /* the epoch in progress (0-based) and optimizer steps taken */
    int64_t epoch_step;  /* steps taken in that epoch: a resumed run continues there */
    /* That epoch's metrics so far (summed over ranks) and training time, so that the resumed
     * run prints the epoch line an uninterrupted run would. */
    double epoch_loss_sum, epoch_correct, epoch_seen, epoch_seconds;
    /* The whole run so far: wall time (evaluation included), training time and images, so
     * that a resumed run's totals (metrics.jsonl's wall_s and img/s) count every session. */
    double run_seconds, train_seconds, train_images;
    int32_t ranks; /* the job size that wrote it (bitwise resumption needs the same) */
    uint64_t seed;
    int32_t batch_size, resize;
    double lr, momentum, weight_decay;
    /* Optional attributes (checkpoints before them read as 0): the optimizer (gnet_opt_kind:
     * 0 SGD, 1 LARS, 2 AdamW, 3 LAMB), LARS's eta and Adam's betas and eps; the training
     * loss since the last evaluation record; the gradient noise scale's moving averages
     * (train/noise.h); where --target-acc was reached (step 0: not); the loss's label
     * smoothing. */
    int32_t optimizer;
    double lars_eta;
    double adam_beta1, adam_beta2, adam_eps;
    double since_loss, since_seen;
    double gns_g2_ema, gns_tr_ema, gns_weight;
    int64_t gns_steps;
    double target_acc; /* --target-acc (0: none) */
    int64_t target_step;
    double target_images, target_train_s, target_epoch, target_wall_s, target_test_acc;
    double label_smoothing; /* --label-smoothing (0, as older files read: none) */
    /* The gradient clipping (core/clip.h; 0, as older files read: none): the gnet_clip_kind,
     * --clip-norm's C and --clip agc's lambda. */
    int32_t clip;
    double clip_norm, agc_lambda;
    char config[1024]; /* free-form resolved options, e.g. the command line */
} gnet_ckpt_meta;

/* State buffers (arenas with the parameters' offsets) and the group each is saved as. */
#define GNET_CKPT_STATES_MAX 2
typedef struct {
    int n;
    const char *group[GNET_CKPT_STATES_MAX];
    float *data[GNET_CKPT_STATES_MAX];
} gnet_ckpt_state;

/* Writes PATH atomically (see above). state may be NULL (no state groups); meta may be NULL
 * (no /meta group). */
int gnet_ckpt_save(const char *path, const gnet_param_spec *specs, int n, const float *params,
                   const gnet_ckpt_state *state, const gnet_ckpt_meta *meta);

/* Reads the parameters into params + spec.offset; when state != NULL also each of its
 * groups (an error naming the group if the file lacks it), when meta != NULL also /meta (an
 * error if absent). A
 * config longer than the buffer is truncated. A gnet checkpoint (format/version attributes)
 * must be GNET_CKPT_VERSION, sealed, or GNET_CKPT_UNSEALED_VERSION, with a checksum on every
 * tensor; a file with neither attribute
 * (a plain h5py state_dict dump) is accepted, its checksums verified where present. */
int gnet_ckpt_load(const char *path, const gnet_param_spec *specs, int n, float *params,
                   const gnet_ckpt_state *state, gnet_ckpt_meta *meta);

#endif
