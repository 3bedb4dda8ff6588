// Metrics (sparse/metrics.h) on hand-made masks, and the sparse model file (sparse/export.h):
// round trips on real models and the errors a damaged file must raise.
//
// Tolerances: counts and FLOPs are exact; logits of the reloaded model within 1e-6 (the weights
// are stored as float32, so they come back bit-identical and the difference is in fact 0).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <torch/torch.h>

#include <nlohmann/json.hpp>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <functional>
#include <fstream>
#include <iterator>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

#include "gossamer/kernels/csr.h"
#include "gossamer/models/model.h"
#include "gossamer/sparse/export.h"
#include "gossamer/sparse/metrics.h"
#include "gossamer/sparse/pattern.h"

using namespace gossamer;
using namespace gossamer::sparse;
using ::testing::HasSubstr;

namespace {

// Two pruned layers with a dense bias between them in the flat buffer:
// a [2, 3] at 0..6, a bias at 6..8 (not a layer), b [2, 1, 2, 2] at 8..16.
std::vector<ParamSlice> two_layers() {
  ParamSlice a;
  a.name = "a.weight";
  a.offset = 0;
  a.numel = 6;
  a.shape = {2, 3};
  ParamSlice b;
  b.name = "b.weight";
  b.offset = 8;
  b.numel = 8;
  b.shape = {2, 1, 2, 2};
  return {a, b};
}

}  // namespace

// ---- metrics ---------------------------------------------------------------------------

TEST(SparsityReport, CountsNonZerosPerLayerAndFlops) {
  //                      a: 2 non-zeros (one negative)   bias (ignored)   b: 5 non-zeros (-0 is zero)
  at::Tensor flat = torch::tensor({0.f, 1.5f, 0.f, 0.f, -2.f, 0.f, /**/ 3.f, 3.f, /**/ 1.f, 1.f, 0.f, 1.f, -0.f, 1.f, 0.f, 1.f});
  const auto r = sparsity_report(two_layers(), flat, {1, 9});
  ASSERT_EQ(r.layers.size(), 2u);
  EXPECT_EQ(r.layers[0].name, "a.weight");
  EXPECT_EQ(r.layers[0].numel, 6);
  EXPECT_EQ(r.layers[0].nonzeros, 2);
  EXPECT_EQ(r.layers[0].uses, 1);
  EXPECT_NEAR(r.layers[0].sparsity(), 2.0 / 3.0, 1e-12);
  EXPECT_EQ(r.layers[1].numel, 8);
  EXPECT_EQ(r.layers[1].nonzeros, 5);
  EXPECT_EQ(r.layers[1].uses, 9);
  EXPECT_NEAR(r.layers[1].sparsity(), 3.0 / 8.0, 1e-12);
  EXPECT_EQ(r.numel, 14);
  EXPECT_EQ(r.nonzeros, 7);
  EXPECT_NEAR(r.sparsity(), 0.5, 1e-12);
  EXPECT_DOUBLE_EQ(r.dense_flops, 2.0 * (6 * 1 + 8 * 9));   // 156
  EXPECT_DOUBLE_EQ(r.sparse_flops, 2.0 * (2 * 1 + 5 * 9));  // 94

  const auto r1 = sparsity_report(two_layers(), flat);  // uses default to 1
  EXPECT_DOUBLE_EQ(r1.dense_flops, 28.0);
  EXPECT_DOUBLE_EQ(r1.sparse_flops, 14.0);
  EXPECT_EQ(r1.layers[1].uses, 1);
}

TEST(SparsityReport, EmptyLayerListAndBadUses) {
  const auto r = sparsity_report({}, torch::ones({4}));
  EXPECT_EQ(r.numel, 0);
  EXPECT_EQ(r.sparsity(), 0.0);
  EXPECT_THROW(sparsity_report(two_layers(), torch::ones({16}), {1}), std::invalid_argument);
}

TEST(MaskFlips, CountsDifferencesInsideTheLayersOnly) {
  at::Tensor m1 = torch::tensor({1.f, 0.f, 1.f, 0.f, 1.f, 0.f, /**/ 1.f, 1.f, /**/ 1.f, 1.f, 0.f, 0.f, 1.f, 1.f, 0.f, 0.f});
  at::Tensor m2 = m1.clone();
  EXPECT_EQ(mask_flips(two_layers(), m1, m2), 0);
  m2[1] = 1.f;   // a: 0 -> 1
  m2[2] = 0.f;   // a: 1 -> 0
  m2[6] = 0.f;   // bias: not counted
  m2[7] = 0.f;   // bias: not counted
  m2[8] = 0.f;   // b
  m2[15] = 1.f;  // b, last element
  EXPECT_EQ(mask_flips(two_layers(), m1, m2), 4);
  EXPECT_EQ(mask_flips(two_layers(), m2, m1), 4);
  EXPECT_EQ(mask_flips({two_layers()[1]}, m1, m2), 2);
}

// ---- export / load ------------------------------------------------------------------------

namespace {

struct PrunedModel {
  models::ModelSpec spec;
  std::shared_ptr<models::Model> model;
  std::map<std::string, at::Tensor> masks;  // shaped like the weights, float 0/1
};

// A model whose weights (every parameter with >= 2 dims) keep their 10% largest magnitudes; the
// others are set to 0 so that the model itself is what the sparse file should reproduce.
PrunedModel pruned_model(const std::string& name, uint64_t seed) {
  PrunedModel out;
  out.spec.name = name;
  torch::manual_seed(seed);
  out.model = models::make_model(out.spec);
  torch::NoGradGuard no_grad;
  for (auto& p : out.model->named_parameters()) {
    at::Tensor w = p.value();
    if (w.dim() < 2) continue;
    at::Tensor mask = topk_mask(w.abs(), std::llround(0.1 * static_cast<double>(w.numel())));
    w.mul_(mask);
    out.masks[p.key()] = mask;
  }
  out.model->eval();
  return out;
}

int64_t model_numel(const torch::nn::Module& m) {
  int64_t n = 0;
  for (const auto& p : m.parameters()) n += p.numel();
  for (const auto& b : m.buffers()) n += b.numel();
  return n;
}

std::string temp_path(const std::string& name) { return ::testing::TempDir() + "gossamer_sparse_" + name; }

std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

// The mask a CSR weight encodes, as a float [rows, cols] tensor.
at::Tensor csr_pattern(const kernels::CsrWeight& w) {
  at::Tensor p = torch::zeros({w.rows, w.cols});
  auto acc = p.accessor<float, 2>();
  for (int64_t r = 0; r < w.rows; ++r) {
    for (int32_t k = w.row_ptr[static_cast<size_t>(r)]; k < w.row_ptr[static_cast<size_t>(r) + 1]; ++k) {
      acc[r][w.col_idx[static_cast<size_t>(k)]] = 1.0f;
    }
  }
  return p;
}

// Loads `path`, expecting std::runtime_error whose message names the file and contains `what`.
void expect_load_error(const std::string& path, const std::string& what) {
  try {
    load_sparse_model(path);
    ADD_FAILURE() << "'" << path << "' loaded; expected an error containing '" << what << "'";
  } catch (const std::runtime_error& e) {
    EXPECT_THAT(e.what(), HasSubstr(path));
    EXPECT_THAT(e.what(), HasSubstr(what));
  } catch (const std::exception& e) {
    ADD_FAILURE() << "wrong exception type for '" << what << "': " << e.what();
  }
}

}  // namespace

class SparseModelRoundTrip : public ::testing::TestWithParam<std::string> {};

TEST_P(SparseModelRoundTrip, SamePredictionsSmallerFileAndCsrMatchingTheMasks) {
  const std::string name = GetParam();
  PrunedModel pm = pruned_model(name, 1);
  const std::string path = temp_path(name + "_roundtrip.gsm");
  const int64_t bytes = export_sparse_model(path, pm.spec, *pm.model, pm.masks);
  EXPECT_EQ(bytes, static_cast<int64_t>(std::filesystem::file_size(path)));

  SparseModel loaded = load_sparse_model(path);
  EXPECT_EQ(loaded.file_bytes, bytes);
  EXPECT_EQ(loaded.spec.name, name);
  ASSERT_TRUE(loaded.model);

  // At least 4x smaller than a float32 dense copy of every parameter and buffer.
  const int64_t dense_bytes = 4 * model_numel(*pm.model);
  EXPECT_LE(4 * bytes, dense_bytes) << "file " << bytes << " B, dense " << dense_bytes << " B";

  // Same predictions.
  torch::manual_seed(2);
  at::Tensor x = torch::randn({16, 1, 28, 28});
  torch::NoGradGuard no_grad;
  at::Tensor y0 = pm.model->forward(x), y1 = loaded.model->forward(x);
  ASSERT_EQ(y0.sizes(), y1.sizes());
  EXPECT_LE((y0 - y1).abs().max().item<float>(), 1e-6f);
  EXPECT_TRUE(torch::equal(y0.argmax(1), y1.argmax(1)));

  // Every parameter comes back exactly (pruned weights are already 0 off the masks).
  const auto original = pm.model->named_parameters();
  for (const auto& p : loaded.model->named_parameters()) {
    EXPECT_TRUE(torch::equal(p.value(), original[p.key()])) << p.key();
  }

  // The CSR layers are the masks, with the kept weights as values.
  ASSERT_EQ(loaded.sparse.size(), pm.masks.size());
  for (const auto& [pname, mask] : pm.masks) {
    ASSERT_EQ(loaded.sparse.count(pname), 1u) << pname;
    const kernels::CsrWeight& csr = loaded.sparse.at(pname);
    EXPECT_NO_THROW(kernels::csr_validate(csr)) << pname;
    const int64_t rows = mask.size(0), cols = mask.numel() / rows;
    EXPECT_EQ(csr.rows, rows) << pname;
    EXPECT_EQ(csr.cols, cols) << pname;
    EXPECT_EQ(csr.nnz(), static_cast<int64_t>(mask.sum().item<float>())) << pname;
    EXPECT_TRUE(torch::equal(csr_pattern(csr), mask.reshape({rows, cols}))) << pname;
    EXPECT_TRUE(torch::equal(kernels::csr_to_dense(csr), original[pname].reshape({rows, cols}))) << pname;
  }
  std::filesystem::remove(path);
}

INSTANTIATE_TEST_SUITE_P(Models, SparseModelRoundTrip, ::testing::Values("lenet5", "mlp"),
                         [](const auto& info) { return info.param; });

TEST(SparseModelExport, KeptWeightThatIsZeroIsStoredExplicitly) {
  PrunedModel pm = pruned_model("lenet5", 3);
  // Zero the first kept weight of fc3: the stored pattern must still be the mask's.
  const at::Tensor mask = pm.masks.at("fc3.weight");
  const int64_t first_kept = mask.reshape({-1}).nonzero()[0][0].item<int64_t>();
  {
    torch::NoGradGuard no_grad;
    pm.model->named_parameters()["fc3.weight"].view({-1})[first_kept] = 0.0f;
  }
  const std::string path = temp_path("explicit_zero.gsm");
  export_sparse_model(path, pm.spec, *pm.model, pm.masks);
  SparseModel loaded = load_sparse_model(path);
  const kernels::CsrWeight& csr = loaded.sparse.at("fc3.weight");
  EXPECT_EQ(csr.nnz(), static_cast<int64_t>(mask.sum().item<float>()));
  EXPECT_TRUE(torch::equal(csr_pattern(csr), mask.reshape({csr.rows, csr.cols})));
  std::filesystem::remove(path);
}

TEST(SparseModelExport, MaskForAnUnknownParameterThrows) {
  PrunedModel pm = pruned_model("mlp", 4);
  auto masks = pm.masks;
  masks["fc9.weight"] = torch::ones({2, 2});
  try {
    export_sparse_model(temp_path("unknown_mask.gsm"), pm.spec, *pm.model, masks);
    FAIL() << "mask for an unknown parameter accepted";
  } catch (const std::invalid_argument& e) {
    EXPECT_THAT(e.what(), HasSubstr("fc9.weight"));
  }
}

// Each pruned layer is stored in the smaller of CSR (6 bytes a kept weight + row pointers) and
// values + bitmask (4.125 bytes a weight): a layer at 10% zeros must not cost the 1.5x of its dense
// bytes that CSR takes, and must come back with exactly its values and its mask.
TEST(SparseModelExport, ALowSparsityLayerIsStoredAsValuesAndBitmaskAndRoundTripsExactly) {
  PrunedModel pm = pruned_model("lenet5", 6);  // every layer 90% sparse (CSR)
  torch::NoGradGuard no_grad;
  // fc1 [120, 400]: 10% zeros, by a random mask; one kept weight exactly 0 (it stays kept).
  auto params = pm.model->named_parameters();
  at::Tensor fc1 = params["fc1.weight"];
  torch::manual_seed(9);
  fc1.copy_(torch::randn(fc1.sizes()));
  const at::Tensor mask = torch::rand(fc1.sizes()).ge(0.1).to(torch::kFloat);
  fc1.mul_(mask);
  const int64_t kept_zero = mask.reshape({-1}).nonzero()[3][0].item<int64_t>();
  fc1.view({-1})[kept_zero] = 0.0f;
  pm.masks["fc1.weight"] = mask;
  // fc2 [84, 120] at 95% zeros: CSR pays.
  at::Tensor fc2 = params["fc2.weight"];
  const at::Tensor mask2 = topk_mask(fc2.abs(), std::llround(0.05 * static_cast<double>(fc2.numel())));
  fc2.mul_(mask2);
  pm.masks["fc2.weight"] = mask2;

  const std::string path = temp_path("low_sparsity.gsm");
  const int64_t bytes = export_sparse_model(path, pm.spec, *pm.model, pm.masks);
  const std::string file = read_bytes(path);
  uint32_t version = 0;
  std::memcpy(&version, file.data() + 8, sizeof version);
  EXPECT_EQ(version, 2u);  // "masked" is new in version 2

  SparseModel loaded = load_sparse_model(path);
  EXPECT_EQ(loaded.encodings.at("fc1.weight"), "masked");
  EXPECT_EQ(loaded.encodings.at("fc2.weight"), "csr");
  EXPECT_EQ(loaded.encodings.at("conv1.weight"), "csr");
  EXPECT_EQ(loaded.encodings.at("fc1.bias"), "dense");

  // No larger than fc1's dense bytes + its mask, with the other tensors as they were: compare
  // with the same model where fc1 is not pruned at all (stored dense).
  auto no_fc1 = pm.masks;
  no_fc1.erase("fc1.weight");
  const int64_t fc1_dense_bytes = export_sparse_model(temp_path("fc1_dense.gsm"), pm.spec, *pm.model, no_fc1);
  const int64_t fc1_mask_bytes = (fc1.numel() + 7) / 8;
  EXPECT_LE(bytes, fc1_dense_bytes + fc1_mask_bytes + 64) << "64: the header's extra words for the layer";
  EXPECT_LT(bytes, fc1_dense_bytes + 6 * fc1.numel() / 10) << "CSR would take 1.5x fc1's dense bytes";
  std::filesystem::remove(temp_path("fc1_dense.gsm"));

  // Exactly the values and the masks, whatever the encoding.
  const auto reloaded = loaded.model->named_parameters();
  for (const auto& [name, m] : pm.masks) {
    const kernels::CsrWeight& csr = loaded.sparse.at(name);
    const int64_t rows = m.size(0), cols = m.numel() / rows;
    EXPECT_NO_THROW(kernels::csr_validate(csr)) << name;
    EXPECT_TRUE(torch::equal(csr_pattern(csr), m.reshape({rows, cols}).to(torch::kFloat))) << name;
    EXPECT_TRUE(torch::equal(kernels::csr_to_dense(csr), params[name].reshape({rows, cols}))) << name;
    EXPECT_TRUE(torch::equal(reloaded[name], params[name])) << name;
  }
  EXPECT_EQ(loaded.sparse.at("fc1.weight").nnz(), static_cast<int64_t>(mask.sum().item<float>()));

  // A weight off the mask is stored as 0 in both encodings (CSR drops it).
  fc1.view({-1})[mask.reshape({-1}).eq(0).nonzero()[0][0].item<int64_t>()] = 5.0f;
  export_sparse_model(path, pm.spec, *pm.model, pm.masks);
  EXPECT_TRUE(torch::equal(load_sparse_model(path).model->named_parameters()["fc1.weight"], fc1.mul(mask)));
  std::filesystem::remove(path);
}

// A file whose pruned layers all pay as CSR is a version-1 file, as earlier builds wrote it.
TEST(SparseModelExport, CsrOnlyFilesStayVersionOne) {
  PrunedModel pm = pruned_model("mlp", 7);
  const std::string path = temp_path("csr_only.gsm");
  export_sparse_model(path, pm.spec, *pm.model, pm.masks);
  const std::string file = read_bytes(path);
  uint32_t version = 0;
  std::memcpy(&version, file.data() + 8, sizeof version);
  EXPECT_EQ(version, 1u);
  const SparseModel loaded = load_sparse_model(path);
  for (const auto& [name, m] : pm.masks) EXPECT_EQ(loaded.encodings.at(name), "csr") << name;
  std::filesystem::remove(path);
}

// Damaged files: built from one good LeNet-5 export.
class SparseModelErrors : public ::testing::Test {
 protected:
  void SetUp() override {
    PrunedModel pm = pruned_model("lenet5", 5);
    good_path_ = temp_path("good.gsm");
    export_sparse_model(good_path_, pm.spec, *pm.model, pm.masks);
    good_ = read_bytes(good_path_);
    ASSERT_GT(good_.size(), 20u);
    std::memcpy(&header_bytes_, good_.data() + 12, sizeof header_bytes_);
    payload_at_ = 20 + static_cast<size_t>(header_bytes_);
    ASSERT_GT(good_.size(), payload_at_ + 1000);
  }
  void TearDown() override {
    std::filesystem::remove(good_path_);
    for (const auto& p : written_) std::filesystem::remove(p);
  }

  // Writes `bytes` to a temp file named after `tag` and returns its path.
  std::string damaged(const std::string& tag, const std::string& bytes) {
    const std::string path = temp_path("damaged_" + tag + ".gsm");
    write_bytes(path, bytes);
    written_.push_back(path);
    return path;
  }

  std::string good_path_, good_;
  std::vector<std::string> written_;
  uint64_t header_bytes_ = 0;
  size_t payload_at_ = 0;
};

TEST_F(SparseModelErrors, TheGoodFileLoads) { EXPECT_NO_THROW(load_sparse_model(good_path_)); }

TEST_F(SparseModelErrors, TruncatedInsideThePayload) {
  expect_load_error(damaged("trunc_payload", good_.substr(0, good_.size() - 1000)), "truncated");
  expect_load_error(damaged("trunc_crc", good_.substr(0, good_.size() - 2)), "truncated");
  expect_load_error(damaged("trunc_no_payload", good_.substr(0, payload_at_ + 2)), "truncated");
}

TEST_F(SparseModelErrors, TruncatedInsideTheHeader) {
  expect_load_error(damaged("trunc_header", good_.substr(0, payload_at_ - header_bytes_ / 2)), "truncated");
}

// Regression (found by this test, fixed): a file cut inside the fixed 20-byte prefix (magic intact, header length
// missing) is reported as "not a Gossamer sparse model file (bad magic)" instead of as truncated.
TEST_F(SparseModelErrors, TruncatedRightAfterTheMagic) {
  expect_load_error(damaged("trunc_prefix", good_.substr(0, 12)), "truncated");
}

TEST_F(SparseModelErrors, FlippedPayloadByteFailsTheChecksum) {
  std::string bytes = good_;
  bytes[payload_at_ + 100] = static_cast<char>(bytes[payload_at_ + 100] ^ 0x40);
  expect_load_error(damaged("flipped", bytes), "checksum mismatch");
  std::string last = good_;
  last[good_.size() - 5] = static_cast<char>(last[good_.size() - 5] ^ 0x01);  // last payload byte
  expect_load_error(damaged("flipped_last", last), "checksum mismatch");
}

TEST_F(SparseModelErrors, NotASparseModelFile) {
  expect_load_error(damaged("text", "this is a text file, not a sparse model; it is long enough to hold a header\n"),
                    "not a Gossamer sparse model file");
  // A dense torch checkpoint is not one either.
  const std::string pt = temp_path("dense.pt");
  torch::save(torch::ones({4, 4}), pt);
  expect_load_error(pt, "not a Gossamer sparse model file");
  std::filesystem::remove(pt);
}

TEST_F(SparseModelErrors, MissingFileAndUnsupportedVersion) {
  expect_load_error(temp_path("does_not_exist.gsm"), "cannot be read");
  std::string bytes = good_;
  bytes[8] = 3;  // u32 version, little-endian
  expect_load_error(damaged("version", bytes), "version 3 is not supported (this build reads 1 and 2)");
}

TEST_F(SparseModelErrors, HeaderNamingAnotherModel) {
  std::string header = good_.substr(20, header_bytes_);
  const std::string from = "\"name\":\"lenet5\"";
  const auto at = header.find(from);
  ASSERT_NE(at, std::string::npos) << header.substr(0, 200);
  header.replace(at, from.size(), "\"name\":\"mlp\"");
  std::string bytes = good_.substr(0, 12);
  const uint64_t n = header.size();
  bytes.append(reinterpret_cast<const char*>(&n), sizeof n);
  bytes += header;
  bytes += good_.substr(payload_at_);
  expect_load_error(damaged("other_model", bytes), "does not match model 'mlp'");
}

namespace header_edit_test {

// `path` with its JSON header replaced by edit(header) (the payload and its checksum unchanged).
void rewrite_header(const std::string& path, const std::function<void(nlohmann::json&)>& edit) {
  const std::string file = read_bytes(path);
  uint64_t header_bytes;
  std::memcpy(&header_bytes, file.data() + 12, 8);
  nlohmann::json header = nlohmann::json::parse(file.substr(20, header_bytes));
  edit(header);
  const std::string text = header.dump();
  std::string out = file.substr(0, 12);
  const uint64_t n = text.size();
  out.append(reinterpret_cast<const char*>(&n), 8);
  out += text;
  out += file.substr(20 + header_bytes);
  write_bytes(path, out);
}

// A header edited by hand or damaged: every field that would index or size memory is checked, and
// the error names the file (no crash, no out-of-bounds read, no bare JSON exception).
TEST(SparseModelExport, AHeaderWithImpossibleFieldsIsRefusedNamingTheFile) {
  models::ModelSpec spec;
  spec.name = "resnet20";
  spec.width = 4;
  auto model = models::make_model(spec);
  std::map<std::string, at::Tensor> masks;
  for (const auto& p : model->named_parameters()) {
    // Every 10th weight kept: sparse enough to be stored as CSR.
    if (p.key() == "conv1.weight") masks[p.key()] = (torch::arange(p.value().numel()) % 10 == 0).to(at::kFloat);
  }
  ASSERT_EQ(masks.size(), 1u);
  const std::string good = temp_path("header_good.gsm");
  export_sparse_model(good, spec, *model, masks);
  ASSERT_EQ(load_sparse_model(good).encodings.at("conv1.weight"), "csr");
  auto edited = [&](const std::string& name, const std::function<void(nlohmann::json&)>& edit) {
    const std::string path = temp_path("header_" + name + ".gsm");
    write_bytes(path, read_bytes(good));
    rewrite_header(path, edit);
    return path;
  };
  auto entry = [](nlohmann::json& h, const std::string& suffix) -> nlohmann::json& {
    for (auto& e : h["tensors"]) {
      const std::string n = e["name"];
      if (n.size() >= suffix.size() && n.compare(n.size() - suffix.size(), suffix.size(), suffix) == 0) return e;
    }
    throw std::logic_error("no tensor ending in " + suffix);
  };
  // A 0-d buffer (BatchNorm's step count) claimed to be CSR: it has no rows to index.
  expect_load_error(edited("scalar_csr", [&](nlohmann::json& h) { entry(h, "num_batches_tracked")["encoding"] = "csr"; }),
                    "is stored as CSR but has no rows");
  expect_load_error(edited("index_bytes", [&](nlohmann::json& h) { entry(h, "conv1.weight")["index_bytes"] = 1; }),
                    "index_bytes 1 (2 or 4)");
  expect_load_error(edited("nnz", [&](nlohmann::json& h) { entry(h, "conv1.weight")["nnz"] = -5; }),
                    "inconsistent size");
  expect_load_error(edited("nnz_type", [&](nlohmann::json& h) { entry(h, "conv1.weight")["nnz"] = "many"; }),
                    "corrupt header");
  expect_load_error(edited("no_model", [&](nlohmann::json& h) { h.erase("model"); }), "corrupt header");
  // A width that would build 4.5e12 parameters (18 TB of weights): refused from the sizes, before
  // the model is built (building it threw c10::Error from the allocator, with a stack trace).
  expect_load_error(edited("huge_width", [&](nlohmann::json& h) { h["model"]["width"] = 65536; }),
                    "its header describes a model 'resnet20' of 1.81e+04 GB of weights, more than half the");
}

}  // namespace header_edit_test
