/* The whole model against the PyTorch reference (tests/ref/torch_step.py): the same initial
 * weights (through a gnet checkpoint), the same batch -> logits, loss, every parameter's
 * gradient, and the weights after one SGD step (momentum and weight decay on) agree.
 * Error measure per tensor: max|gnet - torch| / max|torch| <= 1e-4.
 * With --label-smoothing: the loss alone (softmax_xent) against tests/ref/xent_ref.py's
 * torch.nn.CrossEntropyLoss(label_smoothing=EPS) on the same logits: the mean loss and
 * dlogits within XENT_TOL.
 * usage: test_vs_pytorch PYTHON TORCH_STEP_PY SIZE BATCH
 *        test_vs_pytorch PYTHON XENT_REF_PY --label-smoothing EPS */
#include <hdf5.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/checkpoint.h"
#include "core/model.h"
#include "core/optim.h"
#include "core/rng.h"
#include "test_util.h"

#define TOL 1e-4
/* The loss alone: float32 arithmetic against PyTorch's in float64. */
#define XENT_TOL 1e-5
#define XENT_ROWS 16
#define LR 0.1f
#define MOMENTUM 0.9f
#define WD 1e-3f

static double rel_err(const float *a, const float *b, size_t n)
{
    double num = 0.0, den = 0.0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - (double)b[i]), m = fabs((double)b[i]);
        num = d > num ? d : num;
        den = m > den ? m : den;
    }
    return den > 0.0 ? num / den : num;
}

/* Floats of shape dims[ndim] under `name` in path, and the int32 labels y[dims[0]]. */
static void write_batch(const char *path, const char *name, const float *x, const hsize_t *dims,
                        int ndim, const int32_t *y)
{
    hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    hid_t xs = H5Screate_simple(ndim, dims, NULL), ys = H5Screate_simple(1, dims, NULL);
    hid_t xds = H5Dcreate2(f, name, H5T_IEEE_F32LE, xs, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    hid_t yds = H5Dcreate2(f, "y", H5T_STD_I32LE, ys, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    EXPECT(H5Dwrite(xds, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, x) >= 0);
    EXPECT(H5Dwrite(yds, H5T_NATIVE_INT32, H5S_ALL, H5S_ALL, H5P_DEFAULT, y) >= 0);
    H5Dclose(xds);
    H5Dclose(yds);
    H5Sclose(xs);
    H5Sclose(ys);
    H5Fclose(f);
}

static int read_doubles(hid_t f, const char *name, double *out, size_t n)
{
    hid_t d = H5Dopen2(f, name, H5P_DEFAULT);
    if (d < 0)
        return -1;
    hid_t s = H5Dget_space(d);
    int ok = (size_t)H5Sget_simple_extent_npoints(s) == n &&
             H5Dread(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, out) >= 0;
    H5Sclose(s);
    H5Dclose(d);
    return ok ? 0 : -1;
}

/* The reference writes grads and updated weights under grad/ and after/: read them with the
 * checkpoint reader by prefixing the parameter table's names. */
static int load_prefixed(const char *path, const gnet_model *m, const char *prefix, float *out)
{
    gnet_param_spec *specs = malloc((size_t)m->n_params * sizeof *specs);
    for (int i = 0; i < m->n_params; i++) {
        specs[i] = m->params_spec[i];
        snprintf(specs[i].name, sizeof specs[i].name, "%s%s", prefix, m->params_spec[i].name);
    }
    int rc = gnet_ckpt_load(path, specs, m->n_params, out, NULL, NULL);
    free(specs);
    return rc;
}

static void compare_tensors(const gnet_model *m, const float *ours, const float *ref, const char *what)
{
    double worst = 0.0;
    const char *worst_name = "";
    for (int i = 0; i < m->n_params; i++) {
        const gnet_param_spec *s = &m->params_spec[i];
        double e = rel_err(ours + s->offset, ref + s->offset, s->count);
        if (e > TOL)
            fprintf(stderr, "%s %s: relative error %.3g > %g\n", what, s->name, e, TOL);
        EXPECT(e <= TOL);
        if (e >= worst) {
            worst = e;
            worst_name = s->name;
        }
    }
    printf("%-7s worst relative error %.3g (%s) over %d tensors\n", what, worst, worst_name, m->n_params);
}

/* gnet's logits and mean loss against the reference's (OUT: logits, loss). */
static void check_logits_and_loss(const gnet_model *m, const char *out, int batch, double loss)
{
    hid_t f = H5Fopen(out, H5F_ACC_RDONLY, H5P_DEFAULT);
    EXPECT(f >= 0);
    double ref_loss, *ref_logits = malloc(sizeof(double) * (size_t)batch * GNET_CLASSES);
    EXPECT(read_doubles(f, "loss", &ref_loss, 1) == 0);
    EXPECT(read_doubles(f, "logits", ref_logits, (size_t)batch * GNET_CLASSES) == 0);
    H5Fclose(f);
    float *ref_logits_f = malloc(sizeof(float) * (size_t)batch * GNET_CLASSES);
    for (int i = 0; i < batch * GNET_CLASSES; i++)
        ref_logits_f[i] = (float)ref_logits[i];
    double le = rel_err(m->logits, ref_logits_f, (size_t)batch * GNET_CLASSES);
    printf("logits  relative error %.3g\n", le);
    EXPECT(le <= TOL);
    printf("loss    gnet %.7f torch %.7f\n", loss, ref_loss);
    EXPECT(fabs(loss - ref_loss) <= TOL * fabs(ref_loss));
    free(ref_logits);
    free(ref_logits_f);
}

/* Runs the reference's command line cmd; 0 when it succeeded. */
static int run_reference(const char *cmd)
{
    int sys = system(cmd);
    EXPECT(sys == 0);
    if (sys != 0)
        fprintf(stderr, "reference failed: %s\n", cmd);
    return sys == 0 ? 0 : -1;
}

/* XENT_ROWS rows of logits in [-4, 4], row 0 large (80 +- 5j: a naive exp would overflow),
 * random labels: gnet's mean smoothed loss and dlogits (scale 1/rows, the mean's gradient)
 * against PyTorch's (OUT: loss, dlogits). */
static void check_label_smoothing(const char *python, const char *script, float eps,
                                  const char *dir)
{
    enum { N = XENT_ROWS, C = GNET_CLASSES };
    char in[256], out[256], cmd[1200];
    snprintf(in, sizeof in, "%s/logits.h5", dir);
    snprintf(out, sizeof out, "%s/xent.h5", dir);
    gnet_backend *be = gnet_backend_cpu_create(1);
    float *z = be->alloc(be, N * C), *dz = be->alloc(be, N * C), ref_dz[N * C];
    int32_t y[N];
    gnet_rng r;
    gnet_rng_init(&r, gnet_rng_key(3, 1, 4, 2));
    for (int i = 0; i < N * C; i++)
        z[i] = i < C ? 80.0f + 5.0f * (float)i * (i % 2 ? -1.0f : 1.0f)
                     : 8.0f * gnet_rng_uniform(&r) - 4.0f;
    for (int i = 0; i < N; i++)
        y[i] = (int32_t)gnet_rng_below(&r, C);
    write_batch(in, "logits", z, (hsize_t[]){N, C}, 2, y);
    snprintf(cmd, sizeof cmd, "%s %s --in %s --label-smoothing %.9g --out %s", python, script, in,
             (double)eps, out);
    double loss_sum, ref_loss, ref[N * C];
    int64_t correct;
    gnet_softmax_xent_now(be, N, C, z, y, eps, 1.0f / N, dz, &loss_sum, &correct);
    hid_t f = run_reference(cmd) ? -1 : H5Fopen(out, H5F_ACC_RDONLY, H5P_DEFAULT);
    EXPECT(f >= 0 && read_doubles(f, "loss", &ref_loss, 1) == 0 &&
           read_doubles(f, "dlogits", ref, N * C) == 0);
    if (f >= 0)
        H5Fclose(f);
    for (int i = 0; i < N * C; i++)
        ref_dz[i] = (float)ref[i];
    double le = fabs(loss_sum / N - ref_loss) / fabs(ref_loss), de = rel_err(dz, ref_dz, N * C);
    printf("label smoothing %g: loss gnet %.9f torch %.9f (relative error %.3g), dlogits "
           "relative error %.3g (tolerance %g)\n",
           (double)eps, loss_sum / N, ref_loss, le, de, XENT_TOL);
    EXPECT(le <= XENT_TOL && de <= XENT_TOL);
    be->free(be, z);
    be->free(be, dz);
    be->destroy(be);
}

/* One SGD step of the whole model on BATCH rows at SIZE x SIZE against torch_step.py. */
static void check_model_step(const char *python, const char *script, int size, int batch,
                             const char *dir)
{
    char ckpt[256], bpath[256], out[256], cmd[1200];
    snprintf(ckpt, sizeof ckpt, "%s/init.h5", dir);
    snprintf(bpath, sizeof bpath, "%s/batch.h5", dir);
    snprintf(out, sizeof out, "%s/out.h5", dir);

    gnet_backend *be = gnet_backend_cpu_create(2);
    gnet_model *m = gnet_model_create(be, batch, size);
    gnet_model_init(m, 42, GNET_INIT_XAVIER);
    EXPECT(gnet_ckpt_save(ckpt, m->params_spec, m->n_params, m->params, NULL, NULL) == 0);

    size_t pixels = (size_t)batch * size * size;
    float *x = be->alloc(be, pixels);
    int32_t *y = malloc(sizeof(int32_t) * (size_t)batch);
    gnet_rng r;
    gnet_rng_init(&r, gnet_rng_key(3, 1, 4, 1));
    for (size_t i = 0; i < pixels; i++)
        x[i] = gnet_rng_uniform(&r);
    for (int i = 0; i < batch; i++)
        y[i] = (int32_t)gnet_rng_below(&r, GNET_CLASSES);
    write_batch(bpath, "x", x, (hsize_t[]){(hsize_t)batch, 1, (hsize_t)size, (hsize_t)size}, 4, y);

    snprintf(cmd, sizeof cmd, "%s %s --ckpt %s --batch %s --lr %g --momentum %g --weight-decay %g --out %s",
             python, script, ckpt, bpath, (double)LR, (double)MOMENTUM, (double)WD, out);
    float *ref = malloc(sizeof(float) * m->n_weights);
    gnet_optim *opt = gnet_optim_create(be, m->params_spec, m->n_params, m->n_weights,
                                        (gnet_optim_config){.kind = GNET_OPT_SGD, .momentum = MOMENTUM, .weight_decay = WD});
    if (run_reference(cmd) == 0) {
        gnet_model_forward(m, x);
        double loss_sum;
        int64_t correct;
        gnet_softmax_xent_now(be, batch, GNET_CLASSES, m->logits, y, 0.0f, 1.0f / (float)batch, m->dlogits, &loss_sum, &correct);
        gnet_model_backward(m, 0, NULL);

        check_logits_and_loss(m, out, batch, loss_sum / batch);

        EXPECT(load_prefixed(out, m, "grad/", ref) == 0);
        compare_tensors(m, m->grads, ref, "grad");

        gnet_optim_step(opt, m->params, m->grads, LR);
        EXPECT(load_prefixed(out, m, "after/", ref) == 0);
        compare_tensors(m, m->params, ref, "after");
    }
    free(ref);
    free(y);
    be->free(be, x);
    gnet_optim_destroy(opt);
    gnet_model_destroy(m);
    be->destroy(be);
}

int main(int argc, char **argv)
{
    if (argc != 5) {
        fprintf(stderr,
                "usage: %s PYTHON TORCH_STEP_PY SIZE BATCH\n"
                "       %s PYTHON XENT_REF_PY --label-smoothing EPS\n",
                argv[0], argv[0]);
        return 2;
    }
    char dir[] = "/tmp/gnet_vs_torch_XXXXXX", cmd[64];
    EXPECT(mkdtemp(dir) != NULL);
    if (strcmp(argv[3], "--label-smoothing") == 0)
        check_label_smoothing(argv[1], argv[2], strtof(argv[4], NULL), dir);
    else
        check_model_step(argv[1], argv[2], atoi(argv[3]), atoi(argv[4]), dir);
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    EXPECT(system(cmd) == 0);
    TEST_MAIN_END();
}
