#include <gtest/gtest.h>
#include <torch/torch.h>

#include "gossamer/models/footprint.h"
#include "gossamer/models/model.h"

namespace gossamer::models::footprint_test {

ModelSpec spec_of(const std::string& name, std::vector<int64_t> shape = {1, 28, 28}) {
  ModelSpec s;
  s.name = name;
  s.input_shape = std::move(shape);
  return s;
}

// The closed form against the built model, across every architecture and the sizes that change
// its shapes (input channels and side, widths, classes, no hidden layer at all).
TEST(ModelFootprint, TheParameterCountIsTheBuiltModels) {
  std::vector<ModelSpec> specs;
  for (auto hidden : std::vector<std::vector<int64_t>>{{300, 100}, {}, {7, 5, 3}}) {
    ModelSpec s = spec_of("mlp", {3, 8, 8});
    s.hidden = hidden;
    specs.push_back(s);
  }
  specs.push_back(spec_of("lenet5"));
  specs.push_back(spec_of("lenet5", {3, 32, 32}));
  for (int64_t width : {4, 16}) {
    for (auto shape : std::vector<std::vector<int64_t>>{{1, 28, 28}, {3, 32, 32}}) {
      ModelSpec s = spec_of("resnet20", shape);
      s.width = width;
      s.num_classes = 7;
      specs.push_back(s);
    }
  }
  for (const char* name : {"vit", "ceit"}) {
    ModelSpec s = spec_of(name);
    s.transformer.dim = 16;
    s.transformer.depth = 2;
    s.transformer.heads = 2;
    specs.push_back(s);
  }
  for (const auto& s : specs) {
    const auto built = make_model(s);
    EXPECT_EQ(model_footprint(s).parameters, static_cast<double>(count_parameters(*built)))
        << s.name << " width " << s.width << " channels " << s.input_shape[0];
  }
}

// LeNet-5 on 28x28 by hand. Training: input 784; conv1 6x28x28 = 4704 and its relu (2 x 4704);
// pool 6x14x14 = 1176 and its indices (2 x 1176); conv2 16x10x10 = 1600 (2 x 1600); pool 16x5x5
// = 400 (2 x 400); fc 120, 84, 10 (2 x 214); the largest im2col, conv1's 25 x 784 = 19600.
// Evaluation: the largest two consecutive outputs (conv1 4704 + pool 1176; input 784 + conv1 is
// 5488) plus that im2col.
TEST(ModelFootprint, LeNetActivationsByHand) {
  const ModelFootprint f = model_footprint(spec_of("lenet5"));
  EXPECT_EQ(f.train_floats_per_sample, 784 + 2 * 4704 + 2 * 1176 + 2 * 1600 + 2 * 400 + 2 * 214 + 19600);
  EXPECT_EQ(f.eval_floats_per_sample, 4704 + 1176 + 19600);
  ModelSpec mlp = spec_of("mlp");  // hidden 300, 100: 784 + 2 x (300 + 100 + 10); peak 784 + 300
  EXPECT_EQ(model_footprint(mlp).train_floats_per_sample, 784 + 2 * 410);
  EXPECT_EQ(model_footprint(mlp).eval_floats_per_sample, 784 + 300);
}

// What a preflight needs it for: sizes nothing could allocate (4 TB and more of weights) are
// counted, not built; building either would throw c10::Error from the allocator instead.
TEST(ModelFootprint, AbsurdSizesAreCountedWithoutAllocating) {
  ModelSpec mlp = spec_of("mlp");
  mlp.hidden = {1000000, 1000000};
  ModelSpec resnet = spec_of("resnet20");
  resnet.width = 1 << 20;
  EXPECT_DOUBLE_EQ(model_footprint(mlp).parameters, 784.0 * 1e6 + 1e6 + 1e12 + 1e6 + 1e6 * 10 + 10);
  EXPECT_GT(model_footprint(resnet).parameters, 1e15);
}

TEST(ModelFootprint, SpecsTheRegistryRefusesAreRefused) {
  EXPECT_THROW(model_footprint(spec_of("alexnet")), std::invalid_argument);
  EXPECT_THROW(model_footprint(spec_of("lenet5", {1, 8, 8})), std::invalid_argument);
  EXPECT_THROW(model_footprint(spec_of("resnet20", {1, 28, 14})), std::invalid_argument);
  ModelSpec vit = spec_of("vit");
  vit.transformer.patch = 5;
  EXPECT_THROW(model_footprint(vit), std::invalid_argument);
  ModelSpec ceit = spec_of("ceit");
  ceit.transformer.patch = 6;  // not a multiple of 4
  EXPECT_THROW(model_footprint(ceit), std::invalid_argument);
  ModelSpec heads = spec_of("vit");
  heads.transformer.dim = 10;
  heads.transformer.heads = 4;
  EXPECT_THROW(model_footprint(heads), std::invalid_argument);
}

}  // namespace gossamer::models::footprint_test
