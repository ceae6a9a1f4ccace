// Fused CPU kernels of the attention gates (SE, ECA, CBAM): see kerasfg/layers/fused_gates.py.
//
// Every op takes a channels-last map x viewed as (batch, pixels, channels) and makes one pass over it,
// forward or backward, where TensorFlow's composition of elementwise kernels makes two to five. The
// arithmetic is float32 (bfloat16 values are widened, and rounded to nearest even once at the end, as
// Eigen's bfloat16 does); reductions accumulate in float32. Work is split over TensorFlow's intra-op
// thread pool; the inner loops run along the contiguous channels and vectorize.
//
//   KfgScaleChannels(x, gate[b, c])           y = x * gate[b, None, c]
//   KfgScaleChannelsGrad(dy, x, gate)         dx = dy * gate, dgate = sum over pixels of dy * x
//   KfgScalePixels(x, gate[b, ..., 1])        y = x * gate[b, p, None]
//   KfgScalePixelsGrad(dy, x, gate)           dx = dy * gate, dgate = sum over channels of dy * x
//   KfgAddChannels(x, v[b, c])                y = x + v[b, None, c] (in x's buffer when it can)
//   KfgGlobalPoolGrad(dx_in, x, d_mean, d_max, maximum)
//                                             dx = dx_in + the gradient of the mean and max over the pixels
//   KfgChannelMaxMean(x)                      [max, mean] over the channels, (..., 2)
//   KfgChannelMaxMeanGrad(dpooled, x, pooled, dx_in)
//                                             dx = dx_in + the gradient of [max, mean] (tied maxima
//                                             share theirs); dx_in has x's shape or no elements

#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

#include "tensorflow/core/framework/op.h"
#include "tensorflow/core/framework/op_kernel.h"
#include "tensorflow/core/framework/shape_inference.h"
#include "tensorflow/core/util/work_sharder.h"

namespace kerasfg {
namespace {

using tensorflow::bfloat16;
using tensorflow::OpKernel;
using tensorflow::OpKernelConstruction;
using tensorflow::OpKernelContext;
using tensorflow::Tensor;
using tensorflow::TensorShape;
using tensorflow::errors::InvalidArgument;
using tensorflow::shape_inference::InferenceContext;
using tensorflow::shape_inference::ShapeHandle;

// Loads and stores of the element types through their raw bits, so that the loops vectorize.
template <typename T>
struct Element;

template <>
struct Element<float> {
  using Raw = float;
  static inline float load(float v) { return v; }
  static inline float store(float v) { return v; }
};

template <>
struct Element<bfloat16> {
  using Raw = uint16_t;
  static inline float load(uint16_t bits) {
    const uint32_t wide = static_cast<uint32_t>(bits) << 16;
    float value;
    std::memcpy(&value, &wide, sizeof(value));
    return value;
  }
  // Round to nearest even, as Eigen::bfloat16; NaN stays a quiet NaN of its sign.
  static inline uint16_t store(float value) {
    uint32_t bits;
    std::memcpy(&bits, &value, sizeof(bits));
    const uint32_t rounded = bits + 0x7fffu + ((bits >> 16) & 1u);
    const uint16_t nan = (bits >> 31) ? 0xffc0u : 0x7fc0u;
    return value != value ? nan : static_cast<uint16_t>(rounded >> 16);
  }
};

template <typename T>
using Raw = typename Element<T>::Raw;

template <typename T>
const Raw<T>* data(const Tensor& t) {
  return reinterpret_cast<const Raw<T>*>(t.flat<T>().data());
}

template <typename T>
Raw<T>* data(Tensor* t) {
  return reinterpret_cast<Raw<T>*>(t->flat<T>().data());
}

// x as (batch, pixels, channels).
struct MapShape {
  int64_t batch, pixels, channels;
};

// Like OP_REQUIRES, in the checks below that return whether they passed.
#define KFG_REQUIRE(CTX, CONDITION, STATUS)      \
  do {                                           \
    if (!(CONDITION)) {                          \
      (CTX)->CtxFailure(__FILE__, __LINE__, (STATUS)); \
      return false;                              \
    }                                            \
  } while (0)

bool GetMapShape(OpKernelContext* ctx, const Tensor& x, MapShape* shape) {
  KFG_REQUIRE(ctx, x.dims() >= 2,
              InvalidArgument("expected a map of rank >= 2 (batch, ..., channels); received shape ",
                              x.shape().DebugString()));
  shape->batch = x.dim_size(0);
  shape->channels = x.dim_size(x.dims() - 1);
  shape->pixels = shape->batch * shape->channels == 0
                      ? 0 : x.NumElements() / (shape->batch * shape->channels);
  return true;
}

bool CheckSameShape(OpKernelContext* ctx, const Tensor& a, const Tensor& b, const char* what) {
  KFG_REQUIRE(ctx, a.shape() == b.shape(),
              InvalidArgument(what, " must have the map's shape ", b.shape().DebugString(),
                              "; received ", a.shape().DebugString()));
  return true;
}

bool CheckGate(OpKernelContext* ctx, const Tensor& gate, int64_t expected, const char* form) {
  KFG_REQUIRE(ctx, gate.NumElements() == expected,
              InvalidArgument("expected a gate of ", expected, " values (", form, "); received shape ",
                              gate.shape().DebugString()));
  return true;
}

// Runs fn(begin, end) over [0, total) on the intra-op threads; cost is per unit, in cycles.
template <typename Fn>
void ParallelFor(OpKernelContext* ctx, int64_t total, int64_t cost, Fn fn) {
  const auto& workers = *ctx->device()->tensorflow_cpu_worker_threads();
  tensorflow::Shard(workers.num_threads, workers.workers, total, cost, fn);
}

// The inputs (x, gate) of a gate's multiplication, checked, and its output y.
template <typename T>
struct GateForward {
  MapShape s;
  const Raw<T>* x = nullptr;
  const Raw<T>* gate = nullptr;
  Raw<T>* y = nullptr;

  // gate_values: the gate's size for the map's shape; form: its shape, for the error message; in_place:
  // write y into x's buffer where TensorFlow can give it.
  bool Prepare(OpKernelContext* ctx, int64_t (*gate_values)(const MapShape&), const char* form,
               bool in_place = false) {
    const Tensor& x_in = ctx->input(0);
    const Tensor& gate_in = ctx->input(1);
    if (!GetMapShape(ctx, x_in, &s) || !CheckGate(ctx, gate_in, gate_values(s), form)) return false;
    Tensor* y_out = nullptr;
    const auto status = in_place ? ctx->forward_input_or_allocate_output({0}, 0, x_in.shape(), &y_out)
                                 : ctx->allocate_output(0, x_in.shape(), &y_out);
    KFG_REQUIRE(ctx, status.ok(), status);
    x = data<T>(x_in);
    gate = data<T>(gate_in);
    y = data<T>(y_out);
    return true;
  }
};

// The inputs (dy, x, gate) of a gate multiplication's gradient, checked, and its outputs (dx, dgate).
template <typename T>
struct GateBackward {
  MapShape s;
  const Raw<T>* dy = nullptr;
  const Raw<T>* x = nullptr;
  const Raw<T>* gate = nullptr;
  Raw<T>* dx = nullptr;
  Raw<T>* dgate = nullptr;

  bool Prepare(OpKernelContext* ctx, int64_t (*gate_values)(const MapShape&), const char* form) {
    const Tensor& dy_in = ctx->input(0);
    const Tensor& x_in = ctx->input(1);
    const Tensor& gate_in = ctx->input(2);
    if (!GetMapShape(ctx, x_in, &s) || !CheckSameShape(ctx, dy_in, x_in, "the upstream gradient") ||
        !CheckGate(ctx, gate_in, gate_values(s), form)) return false;
    Tensor *dx_out = nullptr, *dgate_out = nullptr;
    auto status = ctx->allocate_output(0, x_in.shape(), &dx_out);
    KFG_REQUIRE(ctx, status.ok(), status);
    status = ctx->allocate_output(1, gate_in.shape(), &dgate_out);
    KFG_REQUIRE(ctx, status.ok(), status);
    dy = data<T>(dy_in);
    x = data<T>(x_in);
    gate = data<T>(gate_in);
    dx = data<T>(dx_out);
    dgate = data<T>(dgate_out);
    return true;
  }
};

int64_t PerChannel(const MapShape& s) { return s.batch * s.channels; }
int64_t PerPixel(const MapShape& s) { return s.batch * s.pixels; }

struct Multiply {
  static inline float Apply(float x, float v) { return x * v; }
};

struct Add {
  static inline float Apply(float x, float v) { return x + v; }
};

// y = x (*|+) v[b, c]: KfgScaleChannels, and KfgAddChannels in place.
template <typename T, typename Operation, bool kInPlace>
class ChannelsOp : public OpKernel {
 public:
  explicit ChannelsOp(OpKernelConstruction* ctx) : OpKernel(ctx) {}

  void Compute(OpKernelContext* ctx) override {
    GateForward<T> a;
    if (!a.Prepare(ctx, PerChannel, "batch, channels", kInPlace)) return;
    const int64_t C = a.s.channels, P = a.s.pixels;
    ParallelFor(ctx, a.s.batch * P, 2 * C, [&](int64_t begin, int64_t end) {
      for (int64_t row = begin; row < end; ++row) {
        const Raw<T>* v = a.gate + (row / P) * C;
        const Raw<T>* in = a.x + row * C;
        Raw<T>* out = a.y + row * C;
        for (int64_t c = 0; c < C; ++c) {
          out[c] = Element<T>::store(Operation::Apply(Element<T>::load(in[c]), Element<T>::load(v[c])));
        }
      }
    });
  }
};

template <typename T>
using ScaleChannelsOp = ChannelsOp<T, Multiply, false>;
template <typename T>
using AddChannelsOp = ChannelsOp<T, Add, true>;

template <typename T>
class ScaleChannelsGradOp : public OpKernel {
 public:
  explicit ScaleChannelsGradOp(OpKernelConstruction* ctx) : OpKernel(ctx) {}

  void Compute(OpKernelContext* ctx) override {
    GateBackward<T> a;
    if (!a.Prepare(ctx, PerChannel, "batch, channels")) return;
    const int64_t C = a.s.channels, P = a.s.pixels;
    // One image per unit: the gate's gradient sums over the image's pixels, in a fixed order.
    ParallelFor(ctx, a.s.batch, 4 * P * C, [&](int64_t begin, int64_t end) {
      std::vector<float> sums(C);
      for (int64_t b = begin; b < end; ++b) {
        std::fill(sums.begin(), sums.end(), 0.0f);
        float* acc = sums.data();
        const Raw<T>* g = a.gate + b * C;
        for (int64_t p = 0; p < P; ++p) {
          const int64_t offset = (b * P + p) * C;
          const Raw<T>* up = a.dy + offset;
          const Raw<T>* in = a.x + offset;
          Raw<T>* out = a.dx + offset;
          for (int64_t c = 0; c < C; ++c) {
            const float u = Element<T>::load(up[c]);
            out[c] = Element<T>::store(u * Element<T>::load(g[c]));
            acc[c] += u * Element<T>::load(in[c]);
          }
        }
        for (int64_t c = 0; c < C; ++c) a.dgate[b * C + c] = Element<T>::store(acc[c]);
      }
    });
  }
};

template <typename T>
class ScalePixelsOp : public OpKernel {
 public:
  explicit ScalePixelsOp(OpKernelConstruction* ctx) : OpKernel(ctx) {}

  void Compute(OpKernelContext* ctx) override {
    GateForward<T> a;
    if (!a.Prepare(ctx, PerPixel, "batch, ..., 1")) return;
    const int64_t C = a.s.channels;
    ParallelFor(ctx, a.s.batch * a.s.pixels, 2 * C, [&](int64_t begin, int64_t end) {
      for (int64_t row = begin; row < end; ++row) {
        const float g = Element<T>::load(a.gate[row]);
        const Raw<T>* in = a.x + row * C;
        Raw<T>* out = a.y + row * C;
        for (int64_t c = 0; c < C; ++c) out[c] = Element<T>::store(Element<T>::load(in[c]) * g);
      }
    });
  }
};

template <typename T>
class ScalePixelsGradOp : public OpKernel {
 public:
  explicit ScalePixelsGradOp(OpKernelConstruction* ctx) : OpKernel(ctx) {}

  void Compute(OpKernelContext* ctx) override {
    GateBackward<T> a;
    if (!a.Prepare(ctx, PerPixel, "batch, ..., 1")) return;
    const int64_t C = a.s.channels;
    ParallelFor(ctx, a.s.batch * a.s.pixels, 4 * C, [&](int64_t begin, int64_t end) {
      for (int64_t row = begin; row < end; ++row) {
        const float g = Element<T>::load(a.gate[row]);
        const Raw<T>* up = a.dy + row * C;
        const Raw<T>* in = a.x + row * C;
        Raw<T>* out = a.dx + row * C;
        float acc = 0.0f;
#pragma omp simd reduction(+ : acc)
        for (int64_t c = 0; c < C; ++c) {
          const float u = Element<T>::load(up[c]);
          out[c] = Element<T>::store(u * g);
          acc += u * Element<T>::load(in[c]);
        }
        a.dgate[row] = Element<T>::store(acc);
      }
    });
  }
};

template <typename T>
class ChannelMaxMeanOp : public OpKernel {
 public:
  explicit ChannelMaxMeanOp(OpKernelConstruction* ctx) : OpKernel(ctx) {}

  void Compute(OpKernelContext* ctx) override {
    const Tensor& x = ctx->input(0);
    MapShape s;
    if (!GetMapShape(ctx, x, &s)) return;
    OP_REQUIRES(ctx, s.channels > 0, InvalidArgument("expected at least one channel; received shape ",
                                                      x.shape().DebugString()));
    TensorShape shape = x.shape();
    shape.set_dim(x.dims() - 1, 2);
    Tensor* pooled = nullptr;
    OP_REQUIRES_OK(ctx, ctx->allocate_output(0, shape, &pooled));
    const Raw<T>* xp = data<T>(x);
    Raw<T>* pp = data<T>(pooled);
    const int64_t C = s.channels;
    const float inverse = 1.0f / static_cast<float>(C);
    ParallelFor(ctx, s.batch * s.pixels, 2 * C, [&](int64_t begin, int64_t end) {
      for (int64_t row = begin; row < end; ++row) {
        const Raw<T>* in = xp + row * C;
        float maximum = -INFINITY, sum = 0.0f;
#pragma omp simd reduction(max : maximum) reduction(+ : sum)
        for (int64_t c = 0; c < C; ++c) {
          const float v = Element<T>::load(in[c]);
          maximum = v > maximum ? v : maximum;
          sum += v;
        }
        pp[2 * row] = Element<T>::store(maximum);
        pp[2 * row + 1] = Element<T>::store(sum * inverse);
      }
    });
  }
};

template <typename T>
class ChannelMaxMeanGradOp : public OpKernel {
 public:
  explicit ChannelMaxMeanGradOp(OpKernelConstruction* ctx) : OpKernel(ctx) {}

  void Compute(OpKernelContext* ctx) override {
    const Tensor& dpooled = ctx->input(0);
    const Tensor& x = ctx->input(1);
    const Tensor& pooled = ctx->input(2);
    const Tensor& dx_in = ctx->input(3);
    MapShape s;
    if (!GetMapShape(ctx, x, &s) || !CheckSameShape(ctx, dpooled, pooled, "the upstream gradient") ||
        !CheckGate(ctx, pooled, 2 * s.batch * s.pixels, "batch, ..., 2")) return;
    const bool accumulate = dx_in.NumElements() > 0;
    if (accumulate && !CheckSameShape(ctx, dx_in, x, "dx_in")) return;
    Tensor* dx = nullptr;
    if (accumulate) {
      OP_REQUIRES_OK(ctx, ctx->forward_input_or_allocate_output({3}, 0, x.shape(), &dx));
    } else {
      OP_REQUIRES_OK(ctx, ctx->allocate_output(0, x.shape(), &dx));
    }
    const Raw<T>* dpp = data<T>(dpooled);
    const Raw<T>* xp = data<T>(x);
    const Raw<T>* pp = data<T>(pooled);
    const Raw<T>* dinp = accumulate ? data<T>(dx_in) : nullptr;
    Raw<T>* dxp = data<T>(dx);
    const int64_t C = s.channels;
    const float inverse = 1.0f / static_cast<float>(C);
    ParallelFor(ctx, s.batch * s.pixels, 5 * C, [&](int64_t begin, int64_t end) {
      for (int64_t row = begin; row < end; ++row) {
        const float maximum = Element<T>::load(pp[2 * row]);
        const float d_mean = Element<T>::load(dpp[2 * row + 1]) * inverse;
        const Raw<T>* in = xp + row * C;
        Raw<T>* out = dxp + row * C;
        int64_t ties = 0;
#pragma omp simd reduction(+ : ties)
        for (int64_t c = 0; c < C; ++c) ties += Element<T>::load(in[c]) == maximum;
        const float d_max = ties ? Element<T>::load(dpp[2 * row]) / static_cast<float>(ties) : 0.0f;
        if (accumulate) {
          const Raw<T>* base = dinp + row * C;
          for (int64_t c = 0; c < C; ++c) {
            const float v = Element<T>::load(in[c]) == maximum ? d_max + d_mean : d_mean;
            out[c] = Element<T>::store(Element<T>::load(base[c]) + v);
          }
        } else {
          for (int64_t c = 0; c < C; ++c) {
            out[c] = Element<T>::store(Element<T>::load(in[c]) == maximum ? d_max + d_mean : d_mean);
          }
        }
      }
    });
  }
};

// The gradient of a map's mean and max over its pixels, added to the gradient of the map itself. The max's
// gradient goes whole to the first pixel (in row-major order) that holds the maximum, as TensorFlow's
// MaxPoolGrad gives it.
template <typename T>
class GlobalPoolGradOp : public OpKernel {
 public:
  explicit GlobalPoolGradOp(OpKernelConstruction* ctx) : OpKernel(ctx) {}

  void Compute(OpKernelContext* ctx) override {
    const Tensor& dx_in = ctx->input(0);
    const Tensor& x = ctx->input(1);
    const Tensor& d_mean = ctx->input(2);
    const Tensor& d_max = ctx->input(3);
    const Tensor& maximum = ctx->input(4);
    MapShape s;
    if (!GetMapShape(ctx, x, &s) || !CheckSameShape(ctx, dx_in, x, "dx_in") ||
        !CheckGate(ctx, d_mean, s.batch * s.channels, "batch, channels") ||
        !CheckGate(ctx, d_max, s.batch * s.channels, "batch, channels") ||
        !CheckGate(ctx, maximum, s.batch * s.channels, "batch, channels")) return;
    Tensor* dx = nullptr;
    OP_REQUIRES_OK(ctx, ctx->forward_input_or_allocate_output({0}, 0, x.shape(), &dx));
    const Raw<T>* dinp = data<T>(dx_in);
    const Raw<T>* xp = data<T>(x);
    const Raw<T>* dmeanp = data<T>(d_mean);
    const Raw<T>* dmaxp = data<T>(d_max);
    const Raw<T>* maxp = data<T>(maximum);
    Raw<T>* dxp = data<T>(dx);
    const int64_t C = s.channels, P = s.pixels;
    const float inverse = P > 0 ? 1.0f / static_cast<float>(P) : 0.0f;
    ParallelFor(ctx, s.batch, 6 * P * C, [&](int64_t begin, int64_t end) {
      std::vector<int32_t> first(C);  // 32-bit, to vectorize with the 32-bit floats
      std::vector<float> peak(C), add(C), add_max(C), held(C);
      for (int64_t b = begin; b < end; ++b) {
        for (int64_t c = 0; c < C; ++c) {
          first[c] = -1;
          peak[c] = Element<T>::load(maxp[b * C + c]);
          add[c] = Element<T>::load(dmeanp[b * C + c]) * inverse;
          add_max[c] = Element<T>::load(dmaxp[b * C + c]);
        }
        int32_t* where = first.data();
        float* kept = held.data();
        const float* top = peak.data();
        const float* plus = add.data();
        // One pass adds the mean's gradient everywhere and finds the first pixel holding each channel's
        // maximum, keeping the incoming gradient there; the max's gradient is added there after it.
        for (int32_t p = 0; p < static_cast<int32_t>(P); ++p) {
          const Raw<T>* in = xp + (b * P + p) * C;
          const Raw<T>* base = dinp + (b * P + p) * C;
          Raw<T>* out = dxp + (b * P + p) * C;
          for (int64_t c = 0; c < C; ++c) {
            const bool first_max = Element<T>::load(in[c]) == top[c] && where[c] < 0;
            const float incoming = Element<T>::load(base[c]);
            where[c] = first_max ? p : where[c];
            kept[c] = first_max ? incoming : kept[c];
            out[c] = Element<T>::store(incoming + plus[c]);
          }
        }
        for (int64_t c = 0; c < C; ++c) {
          if (where[c] >= 0) {
            dxp[(b * P + where[c]) * C + c] = Element<T>::store(kept[c] + (add[c] + add_max[c]));
          }
        }
      }
    });
  }
};

absl::Status SameAsInput(InferenceContext* c) {
  c->set_output(0, c->input(0));
  return absl::OkStatus();
}

absl::Status GradShapes(InferenceContext* c) {  // (dy, x, gate) -> (dx, dgate)
  c->set_output(0, c->input(1));
  c->set_output(1, c->input(2));
  return absl::OkStatus();
}

}  // namespace

REGISTER_OP("KfgScaleChannels")
    .Attr("T: {float, bfloat16}").Input("x: T").Input("gate: T").Output("y: T").SetShapeFn(SameAsInput);
REGISTER_OP("KfgScaleChannelsGrad")
    .Attr("T: {float, bfloat16}").Input("dy: T").Input("x: T").Input("gate: T")
    .Output("dx: T").Output("dgate: T").SetShapeFn(GradShapes);
REGISTER_OP("KfgScalePixels")
    .Attr("T: {float, bfloat16}").Input("x: T").Input("gate: T").Output("y: T").SetShapeFn(SameAsInput);
REGISTER_OP("KfgScalePixelsGrad")
    .Attr("T: {float, bfloat16}").Input("dy: T").Input("x: T").Input("gate: T")
    .Output("dx: T").Output("dgate: T").SetShapeFn(GradShapes);
REGISTER_OP("KfgAddChannels")
    .Attr("T: {float, bfloat16}").Input("x: T").Input("v: T").Output("y: T").SetShapeFn(SameAsInput);
REGISTER_OP("KfgGlobalPoolGrad")
    .Attr("T: {float, bfloat16}").Input("dx_in: T").Input("x: T").Input("d_mean: T").Input("d_max: T")
    .Input("maximum: T").Output("dx: T")
    .SetShapeFn([](InferenceContext* c) {
      c->set_output(0, c->input(1));
      return absl::OkStatus();
    });
REGISTER_OP("KfgChannelMaxMean")
    .Attr("T: {float, bfloat16}").Input("x: T").Output("pooled: T")
    .SetShapeFn([](InferenceContext* c) {
      ShapeHandle shape;
      TF_RETURN_IF_ERROR(c->WithRankAtLeast(c->input(0), 2, &shape));
      TF_RETURN_IF_ERROR(c->ReplaceDim(shape, -1, c->MakeDim(2), &shape));
      c->set_output(0, shape);
      return absl::OkStatus();
    });
REGISTER_OP("KfgChannelMaxMeanGrad")
    .Attr("T: {float, bfloat16}").Input("dpooled: T").Input("x: T").Input("pooled: T").Input("dx_in: T")
    .Output("dx: T")
    .SetShapeFn([](InferenceContext* c) {
      c->set_output(0, c->input(1));
      return absl::OkStatus();
    });

#define KFG_REGISTER(NAME, KERNEL)                                                                  \
  REGISTER_KERNEL_BUILDER(Name(NAME).Device(tensorflow::DEVICE_CPU).TypeConstraint<float>("T"),    \
                          KERNEL<float>);                                                           \
  REGISTER_KERNEL_BUILDER(Name(NAME).Device(tensorflow::DEVICE_CPU).TypeConstraint<bfloat16>("T"), \
                          KERNEL<bfloat16>)

KFG_REGISTER("KfgScaleChannels", ScaleChannelsOp);
KFG_REGISTER("KfgScaleChannelsGrad", ScaleChannelsGradOp);
KFG_REGISTER("KfgScalePixels", ScalePixelsOp);
KFG_REGISTER("KfgScalePixelsGrad", ScalePixelsGradOp);
KFG_REGISTER("KfgAddChannels", AddChannelsOp);
KFG_REGISTER("KfgGlobalPoolGrad", GlobalPoolGradOp);
KFG_REGISTER("KfgChannelMaxMean", ChannelMaxMeanOp);
KFG_REGISTER("KfgChannelMaxMeanGrad", ChannelMaxMeanGradOp);

}  // namespace kerasfg
