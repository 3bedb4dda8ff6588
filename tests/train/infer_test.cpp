// Inference from an exported sparse model file (train/infer.h, SparseKernelRouter's file
// constructor) and `gossamer infer` end to end.
//
// The model: LeNet-5 with random weights, every weight layer pruned to 90% by a random mask, exported
// with sparse::export_sparse_model and read back with load_sparse_model. Tolerance: the sparse
// kernels sum in a different order than LibTorch's dense layers, so logits agree to float rounding:
// max|sparse - dense| <= 1e-4 · max(1, max|dense|) (observed ~1e-6).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <torch/torch.h>

#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <stdexcept>
#include <string>

#include "gossamer/kernels/csr.h"
#include "gossamer/models/model.h"
#include "gossamer/sparse/export.h"
#include "gossamer/train/infer.h"
#include "gossamer/train/sparse_kernels.h"
#include "cli_runner.h"
#include "test_paths.h"
#include "toy_data.h"

using namespace gossamer;
using ::testing::HasSubstr;

namespace {

std::string temp_path(const std::string& name) {
  return (std::filesystem::temp_directory_path() / ("gossamer_infer_" + name + "_" + std::to_string(::getpid()))).string();
}

// A model with every weight layer 90% sparse (random masks), exported to `path`; returns the dense
// model it came from (zeros off the masks), in eval mode.
std::shared_ptr<models::Model> export_pruned(const models::ModelSpec& spec, const std::string& path, uint64_t seed) {
  torch::manual_seed(seed);
  auto model = models::make_model(spec);
  std::map<std::string, at::Tensor> masks;
  torch::NoGradGuard no_grad;
  for (const auto& p : model->named_parameters(true)) {
    if (p.value().dim() < 2) continue;
    at::Tensor mask = at::rand(p.value().sizes()).ge(0.9);
    p.value().mul_(mask);
    masks[p.key()] = mask;
  }
  sparse::export_sparse_model(path, spec, *model, masks);
  model->eval();
  return model;
}

double relative_error(const at::Tensor& a, const at::Tensor& ref) {
  return (a - ref).abs().max().item<double>() / std::max(1.0, ref.abs().max().item<double>());
}

class InferFromFile : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = temp_path("lenet") + ".sparse";
    dense_ = export_pruned(models::ModelSpec{}, path_, 7);  // lenet5, [1, 28, 28], 10 classes
  }
  void TearDown() override { std::filesystem::remove(path_); }
  std::string path_;
  std::shared_ptr<models::Model> dense_;
};

}  // namespace

TEST_F(InferFromFile, FileHoldsTheFivePrunedLayersAt90Percent) {
  const auto m = sparse::load_sparse_model(path_);
  ASSERT_EQ(m.sparse.size(), 5u);
  for (const char* name : {"conv1.weight", "conv2.weight", "fc1.weight", "fc2.weight", "fc3.weight"}) {
    ASSERT_EQ(m.sparse.count(name), 1u) << name;
    EXPECT_NEAR(m.sparse.at(name).sparsity(), 0.9, 0.1) << name;  // random masks: fc3 has only 840 weights
  }
}

TEST_F(InferFromFile, SparseKernelsGiveTheDenseLogits) {
  auto m = sparse::load_sparse_model(path_);
  const auto data = gossamer::testing::toy_images(37, 3);  // 37: not a multiple of any panel width
  torch::NoGradGuard no_grad;
  const at::Tensor ref = dense_->forward(data.inputs);
  for (const std::string mode : {"sparse", "auto", "dense"}) {
    train::SparseKernelRouter router(*m.model, m.sparse, mode);
    for (int64_t batch : {1, 16, 37}) {
      // "auto" decides on the model's first 6 calls at a batch size (dense and sparse alternate);
      // every one of them, and the call after, must give the dense logits.
      const int expected_calls = mode == "auto" ? 6 : 1;
      int calls = 0;
      do {
        const at::Tensor got = m.model->forward(data.inputs.narrow(0, 0, batch));
        EXPECT_LE(relative_error(got, ref.narrow(0, 0, batch)), 1e-4) << mode << " batch " << batch << " call " << calls;
        ++calls;
      } while (router.deciding() && calls < 10);
      EXPECT_EQ(calls, expected_calls) << mode << " batch " << batch;
      const at::Tensor after = m.model->forward(data.inputs.narrow(0, 0, batch));
      EXPECT_LE(relative_error(after, ref.narrow(0, 0, batch)), 1e-4) << mode << " batch " << batch;
    }
    const auto d = router.decisions();
    EXPECT_EQ(d.size(), 5u * 3u) << mode;  // 5 layers x 3 batch sizes
    for (const auto& line : d) {
      const std::string want = mode == "auto" ? " ms, dense " : ": " + mode + " (forced)";
      EXPECT_THAT(line, HasSubstr(want)) << mode;
    }
  }
  // The router's destructor removed its overrides: the model runs its own dense layers again.
  EXPECT_LE(relative_error(m.model->forward(data.inputs), ref), 1e-6);
}

TEST(InferResNet20, EveryConvolutionInsideTheBlocksRunsOnTheSparseKernels) {
  // ResNet-20 at width 4: the stem, 9 blocks of two 3x3 convolutions (stride 2 at the first block
  // of stages 2 and 3), two 1x1 projection shortcuts and the classifier: 22 weight layers, all
  // pruned to 90% with random masks. Batch norm in eval mode, so logits are a fixed function.
  const std::string path = temp_path("resnet20") + ".sparse";
  models::ModelSpec spec;
  spec.name = "resnet20";
  spec.width = 4;
  auto dense = export_pruned(spec, path, 11);
  auto m = sparse::load_sparse_model(path);
  ASSERT_EQ(m.sparse.size(), 22u);  // every weight layer was masked and stored sparse
  std::filesystem::remove(path);
  m.model->eval();
  const auto data = gossamer::testing::toy_images(5, 3);
  torch::NoGradGuard no_grad;
  const at::Tensor ref = dense->forward(data.inputs);
  train::SparseKernelRouter router(*m.model, m.sparse, "sparse");
  const at::Tensor got = m.model->forward(data.inputs);
  EXPECT_LE(relative_error(got, ref), 1e-4);
  const auto d = router.decisions();
  EXPECT_EQ(d.size(), 22u) << ::testing::PrintToString(d);  // one batch size, every layer forced sparse
  for (const auto& line : d) EXPECT_THAT(line, HasSubstr(": sparse (forced)"));
  for (const char* name : {"layer1_0.conv1.weight", "layer2_0.shortcut.weight", "layer3_2.conv2.weight", "fc.weight"}) {
    EXPECT_TRUE(std::any_of(d.begin(), d.end(), [&](const std::string& l) { return l.rfind(name, 0) == 0; })) << name;
  }
}

TEST_F(InferFromFile, SameAccuracyAsTheDenseModelOnASubset) {
  auto m = sparse::load_sparse_model(path_);
  auto data = gossamer::testing::toy_images(100, 4);
  // Labels that the dense model mostly gets right (its own predictions, with every 4th changed), so
  // that the comparison is not of two near-zero accuracies.
  {
    torch::NoGradGuard no_grad;
    data.targets = dense_->forward(data.inputs).argmax(1);
    for (int64_t i = 0; i < data.size(); i += 4) data.targets[i] = (data.targets[i].item<int64_t>() + 1) % 10;
  }
  const train::EvalResult ref = train::evaluate(*dense_, data, 32);
  EXPECT_NEAR(ref.accuracy, 0.75, 1e-12);
  for (const std::string mode : {"sparse", "dense", "auto"}) {
    train::InferOptions o;
    o.batch_size = 32;  // 100 = 3 x 32 + 4: the short last batch too
    o.kernels = mode;
    const train::InferResult r = train::infer(m, data, o);
    EXPECT_EQ(r.eval.samples, 100);
    EXPECT_DOUBLE_EQ(r.eval.accuracy, ref.accuracy) << mode;
    EXPECT_NEAR(r.eval.loss, ref.loss, 1e-4 * std::max(1.0, ref.loss)) << mode;
    EXPECT_GT(r.images_per_s, 0) << mode;
    EXPECT_EQ(r.decisions.size(), 5u * 2u) << mode;  // batch 32 and 4
  }
}

TEST_F(InferFromFile, TimingReportsEveryBatchAndModeWithAShare) {
  auto m = sparse::load_sparse_model(path_);
  const auto data = gossamer::testing::toy_images(20, 5);
  const auto rows = train::time_inference(m, data.inputs, {1, 16, 64}, {"dense", "sparse"}, 0.003, 2);
  ASSERT_EQ(rows.size(), 6u);
  for (const auto& t : rows) {
    EXPECT_GT(t.images_per_s, 0);
    EXPECT_GT(t.pruned_share, 0) << t.kernels << " b" << t.batch;
    EXPECT_LT(t.pruned_share, 1) << t.kernels << " b" << t.batch;
    EXPECT_LE(t.pruned_seconds_per_batch, t.seconds_per_batch);
  }
  EXPECT_EQ(rows[0].batch, 1);
  EXPECT_EQ(rows[0].kernels, "dense");
  EXPECT_EQ(rows[5].batch, 64);  // more than the 20 inputs: they are reused
  EXPECT_EQ(rows[5].kernels, "sparse");
}

TEST_F(InferFromFile, BadOptionsAndMismatchedDataAreRefused) {
  auto m = sparse::load_sparse_model(path_);
  const auto images = gossamer::testing::toy_images(8, 6);
  train::InferOptions o;
  o.kernels = "fast";
  EXPECT_THROW(train::infer(m, images, o), std::invalid_argument);
  o.kernels = "auto";
  o.batch_size = 0;
  EXPECT_THROW(train::infer(m, images, o), std::invalid_argument);
  o.batch_size = 4;
  data::Dataset wrong = images;
  wrong.inputs = images.inputs.narrow(2, 0, 20).contiguous();
  try {
    train::infer(m, wrong, o);
    FAIL() << "expected std::invalid_argument";
  } catch (const std::invalid_argument& e) {
    EXPECT_THAT(e.what(), HasSubstr("[1, 20, 28]"));
    EXPECT_THAT(e.what(), HasSubstr("[1, 28, 28]"));
  }
  EXPECT_THROW(train::SparseKernelRouter(*m.model, m.sparse, "fast"), std::invalid_argument);
  auto renamed = m.sparse;
  renamed.emplace("fc9.weight", m.sparse.at("fc3.weight"));
  EXPECT_THROW(train::SparseKernelRouter(*m.model, renamed, "sparse"), std::invalid_argument);
  auto swapped = m.sparse;
  swapped.at("fc2.weight") = m.sparse.at("fc3.weight");
  EXPECT_THROW(train::SparseKernelRouter(*m.model, swapped, "sparse"), std::invalid_argument);
}

// ---- `gossamer infer` ---------------------------------------------------------------------------

namespace {

using gossamer::testing::have_fashion_mnist;
using gossamer::testing::ToolResult;
ToolResult run_tool(const std::string& args) { return gossamer::testing::run_gossamer(args); }
std::string read_file(const std::string& path) { return gossamer::testing::read_text(path); }
void write_file(const std::string& path, const std::string& bytes) { gossamer::testing::write_text(path, bytes); }


}  // namespace

TEST_F(InferFromFile, CommandReportsAccuracySpeedAndKernels) {
  if (!have_fashion_mnist()) GTEST_SKIP() << "Fashion-MNIST not installed (apt-get install dataset-fashion-mnist)";
  for (const std::string kernels : {"sparse", "dense"}) {
    const ToolResult r = run_tool("infer " + path_ + " --limit 100 --batch 32 --threads 1 --kernels " + kernels);
    ASSERT_EQ(r.status, 0) << r.out;
    EXPECT_THAT(r.out, HasSubstr("(lenet5, "));
    EXPECT_THAT(r.out, HasSubstr("100 test images"));
    EXPECT_THAT(r.out, HasSubstr("layer            fc1.weight"));
    EXPECT_THAT(r.out, HasSubstr("test accuracy    "));
    EXPECT_THAT(r.out, HasSubstr(" images/s"));
    EXPECT_THAT(r.out, HasSubstr("kernels          conv1.weight b32 eval: " + kernels + " (forced)"));
    EXPECT_THAT(r.out, HasSubstr("kernels          fc3.weight b4 eval: " + kernels + " (forced)"));
  }
}

TEST_F(InferFromFile, CommandTimingTable) {
  if (!have_fashion_mnist()) GTEST_SKIP() << "Fashion-MNIST not installed (apt-get install dataset-fashion-mnist)";
  const ToolResult r =
      run_tool("infer " + path_ + " --limit 50 --threads 1 --bench --bench-batches 1 16 --bench-seconds 0.03");
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_THAT(r.out, HasSubstr("pruned share"));
  for (const char* row : {"     1  dense ", "     1  sparse ", "     1  auto ", "    16  dense ", "    16  auto "}) {
    EXPECT_THAT(r.out, HasSubstr(row));
  }
}

TEST_F(InferFromFile, CommandNamesABadFile) {
  const std::string good = read_file(path_);
  ASSERT_GT(good.size(), 2000u);
  const std::string truncated = temp_path("truncated"), corrupt = temp_path("corrupt"), text = temp_path("text");
  write_file(truncated, good.substr(0, good.size() - 1000));
  std::string flipped = good;
  flipped[good.size() - 500] = static_cast<char>(flipped[good.size() - 500] ^ 0x40);
  write_file(corrupt, flipped);
  write_file(text, "[model]\nname = \"lenet5\"\n");

  ToolResult r = run_tool("infer " + truncated);
  EXPECT_EQ(r.status, 3) << r.out;
  EXPECT_THAT(r.out, HasSubstr("gossamer infer: sparse model '" + truncated + "': checksum mismatch: the file is corrupt or truncated"));
  r = run_tool("infer " + corrupt);
  EXPECT_EQ(r.status, 3) << r.out;
  EXPECT_THAT(r.out, HasSubstr("checksum mismatch"));
  r = run_tool("infer " + text);
  EXPECT_EQ(r.status, 3) << r.out;
  EXPECT_THAT(r.out, HasSubstr("not a Gossamer sparse model file (bad magic)"));
  r = run_tool("infer " + temp_path("missing"));
  EXPECT_EQ(r.status, 3) << r.out;
  EXPECT_THAT(r.out, HasSubstr("cannot be read (does the file exist?)"));
  for (const auto& p : {truncated, corrupt, text}) std::filesystem::remove(p);
}

TEST_F(InferFromFile, CommandRefusesBadOptions) {
  ToolResult r = run_tool("infer " + path_ + " --kernels fast");
  EXPECT_EQ(r.status, 2) << r.out;
  EXPECT_THAT(r.out, HasSubstr("--kernels"));
  r = run_tool("infer " + path_ + " --batch 0");
  EXPECT_EQ(r.status, 2) << r.out;
  EXPECT_THAT(r.out, HasSubstr("--batch"));
  r = run_tool("infer");
  EXPECT_EQ(r.status, 2) << r.out;
  EXPECT_THAT(r.out, HasSubstr("model is required"));
  r = run_tool("infer " + path_ + " --data /nonexistent/fashion");
  EXPECT_EQ(r.status, 3) << r.out;
  EXPECT_THAT(r.out, HasSubstr("data error: /nonexistent/fashion/t10k-images-idx3-ubyte.gz"));
}

TEST(InferTransformers, EveryProjectionRunsOnTheSparseKernelsAndTheSizesSurviveTheFile) {
  // Non-default sizes, so that a file that lost them would build another model and fail to load.
  // Only the weights the sparse layer would prune get masks (not the class token or positions).
  for (const std::string name : {"vit", "ceit"}) {
    models::ModelSpec spec;
    spec.name = name;
    spec.transformer = {/*dim=*/8, /*depth=*/2, /*heads=*/2, /*mlp_ratio=*/3, /*patch=*/name == "vit" ? 7 : 4, /*stem=*/5};
    const std::string path = temp_path(name) + ".sparse";
    torch::manual_seed(5);
    auto dense = models::make_model(spec);
    std::map<std::string, at::Tensor> masks;
    {
      torch::NoGradGuard no_grad;
      for (const auto& p : dense->named_parameters(true)) {
        if (p.value().dim() < 2 || !dense->prunable(p.key())) continue;
        at::Tensor mask = at::rand(p.value().sizes()).ge(0.8);
        p.value().mul_(mask);
        masks[p.key()] = mask;
      }
    }
    sparse::export_sparse_model(path, spec, *dense, masks);
    auto m = sparse::load_sparse_model(path);
    std::filesystem::remove(path);
    EXPECT_EQ(m.spec.transformer.dim, 8) << name;
    EXPECT_EQ(m.spec.transformer.mlp_ratio, 3) << name;
    EXPECT_EQ(m.spec.transformer.patch, spec.transformer.patch) << name;
    EXPECT_EQ(m.spec.transformer.stem_channels, 5) << name;
    dense->eval();
    m.model->eval();
    const auto data = gossamer::testing::toy_images(3, 8);
    torch::NoGradGuard no_grad;
    const at::Tensor ref = dense->forward(data.inputs);
    train::SparseKernelRouter router(*m.model, m.sparse, "sparse");
    EXPECT_LE(relative_error(m.model->forward(data.inputs), ref), 1e-4) << name;
    const auto d = router.decisions();
    // ViT: patch conv, 2 blocks x (qkv, proj, fc1, fc2), head. CeiT: stem conv, patch conv, 2 blocks
    // x (qkv, proj, up, down), the class-token block's 4 and the head; its depthwise convolutions
    // stay dense, and say so.
    const auto forced = std::count_if(d.begin(), d.end(), [](const std::string& l) {
      return l.find(": sparse (forced)") != std::string::npos;
    });
    EXPECT_EQ(forced, name == "vit" ? 10 : 15) << ::testing::PrintToString(d);
    // The rest: CeiT's depthwise convolutions, which stay dense and say so (no line says a routed
    // layer was never called through its override).
    EXPECT_EQ(d.size() - forced, name == "vit" ? 0u : 2u) << ::testing::PrintToString(d);
    if (name == "ceit") {
      EXPECT_THAT(d, ::testing::Contains("block1.dw.weight: dense (not routed: grouped convolution)"));
    }
    for (const char* layer : {"block1.attn.qkv.weight", "block0.attn.proj.weight", "head.weight", "patch_embed.weight"}) {
      EXPECT_TRUE(std::any_of(d.begin(), d.end(), [&](const std::string& l) { return l.rfind(layer, 0) == 0; }))
          << name << " " << layer;
    }
  }
}
