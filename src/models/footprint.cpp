#include "gossamer/models/footprint.h"

#include <algorithm>
#include <numeric>
#include <stdexcept>

#include "gossamer/models/transformer.h"

namespace gossamer::models {

namespace {

// Accumulates layers in forward order. Parameter counts follow the constructors in mlp.cpp,
// lenet.cpp and resnet.cpp one to one; activations are the estimate described in footprint.h.
class Tally {
 public:
  explicit Tally(double input) : previous_(input) { f_.train_floats_per_sample = input; }
  void linear(double in, double out, bool bias = true) { layer(in * out + (bias ? out : 0), out); }
  // A k x k convolution from `in` channels to `out` on an output map of side x side.
  void conv(double in, double out, double k, double side, bool bias) {
    layer(in * out * k * k + (bias ? out : 0), out * side * side);
    im2col_ = std::max(im2col_, in * k * k * side * side);
  }
  void batch_norm(double channels) { f_.parameters += 2 * channels; }  // weight and bias
  // Max pooling: no parameters; it keeps its output and the indices of the maxima.
  void pool(double out) { layer(0, out); }
  ModelFootprint done() {
    f_.train_floats_per_sample += im2col_;
    f_.eval_floats_per_sample = peak_pair_ + im2col_;
    return f_;
  }

 private:
  void layer(double parameters, double out) {
    f_.parameters += parameters;
    f_.train_floats_per_sample += 2 * out;  // the output and what its activation makes of it
    peak_pair_ = std::max(peak_pair_, previous_ + out);
    previous_ = out;
  }
  ModelFootprint f_;
  double previous_ = 0, peak_pair_ = 0, im2col_ = 0;
};

ModelFootprint transformer_footprint(const ModelSpec& spec) {
  const auto& t = spec.transformer;
  check_transformer_size(t, spec.name);
  const int64_t side = spec.input_shape[1];
  check_transformer_patch(t, spec.name, side);
  ModelFootprint f;
  f.parameters =
      static_cast<double>(transformer_parameters(spec.name, t, spec.input_shape[0], side, spec.num_classes));
  // Per block (and the class-token block): two attention maps of heads x (tokens + 1)² floats and
  // about 12·dim + 6·hidden floats per token (docs/transformers.md checks this against peak RSS).
  const double tokens = static_cast<double>(transformer_tokens(spec.name, t, side) + 1);
  const double hidden = static_cast<double>(t.dim * t.mlp_ratio);
  const double per_token = tokens * (12.0 * static_cast<double>(t.dim) + 6.0 * hidden);
  const double attention = static_cast<double>(t.heads) * tokens * tokens;
  f.train_floats_per_sample = static_cast<double>(t.depth + 1) * (2.0 * attention + per_token);
  f.eval_floats_per_sample = attention + per_token;
  return f;
}

}  // namespace

ModelFootprint model_footprint(const ModelSpec& spec) {
  if (spec.num_classes < 1) throw std::invalid_argument("model: num_classes must be >= 1");
  const auto& shape = spec.input_shape;
  const double classes = static_cast<double>(spec.num_classes);
  double pixels = 1;
  for (int64_t s : shape) pixels *= static_cast<double>(s);
  if (spec.name == "mlp") {
    Tally t(pixels);
    double previous = pixels;
    for (int64_t h : spec.hidden) {
      t.linear(previous, static_cast<double>(h));
      previous = static_cast<double>(h);
    }
    t.linear(previous, classes);
    return t.done();
  }
  const auto names = model_names();
  if (std::find(names.begin(), names.end(), spec.name) == names.end()) {
    make_model(spec);  // throws the registry's message naming the known models
  }
  if (shape.size() != 3 || shape[1] != shape[2]) {
    throw std::invalid_argument("model '" + spec.name + "' needs square images shaped [channels, h, w]");
  }
  if (spec.name == "vit" || spec.name == "ceit") return transformer_footprint(spec);
  const double in = static_cast<double>(shape[0]);
  const int64_t side = shape[1];
  Tally t(pixels);
  if (spec.name == "lenet5") {
    const int64_t after = ((side / 2) - 4) / 2;
    if (after < 1) make_model(spec);  // the constructor's message about images too small
    t.conv(in, 6, 5, static_cast<double>(side), true);
    t.pool(6.0 * static_cast<double>((side / 2) * (side / 2)));
    t.conv(6, 16, 5, static_cast<double>(side / 2 - 4), true);
    t.pool(16.0 * static_cast<double>(after * after));
    t.linear(16.0 * static_cast<double>(after * after), 120);
    t.linear(120, 84);
    t.linear(84, classes);
    return t.done();
  }
  // resnet20: a 3x3 stem, then three stages of three basic blocks (3x3, 3x3, and a 1x1 projection
  // shortcut where the shape changes), every convolution followed by batch norm.
  const double width = static_cast<double>(spec.width);
  int64_t map = side;
  t.conv(in, width, 3, static_cast<double>(map), false);
  t.batch_norm(width);
  double channels = width;
  for (int stage = 0; stage < 3; ++stage) {
    const double out = width * static_cast<double>(int64_t{1} << stage);
    for (int b = 0; b < 3; ++b) {
      const int64_t stride = (stage > 0 && b == 0) ? 2 : 1;
      map = (map - 1) / stride + 1;
      const double s = static_cast<double>(map);
      t.conv(channels, out, 3, s, false);
      t.batch_norm(out);
      t.conv(out, out, 3, s, false);
      t.batch_norm(out);
      if (stride != 1 || channels != out) {
        t.conv(channels, out, 1, s, false);
        t.batch_norm(out);
      }
      channels = out;
    }
  }
  t.linear(channels, classes);
  return t.done();
}

}  // namespace gossamer::models
