#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <torch/torch.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <utility>
#include <vector>

#include "gossamer/models/model.h"
#include "gossamer/train/checkpoint.h"
#include "gossamer/train/flat_parameters.h"
#include "gossamer/train/torch_state_dict.h"
#include "gossamer/util/atomic_file.h"

using namespace gossamer;

namespace {

std::filesystem::path fresh_ckpt_dir(const std::string& name) {
  auto dir = std::filesystem::temp_directory_path() / ("gossamer_ckpt_" + name + "_" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

std::shared_ptr<models::Model> small_mlp() {
  models::ModelSpec s;
  s.name = "mlp";
  s.input_shape = {6};
  s.hidden = {5};
  s.num_classes = 3;
  return models::make_model(s);
}

std::vector<std::string> files_in(const std::filesystem::path& dir) {
  std::vector<std::string> names;
  for (const auto& e : std::filesystem::directory_iterator(dir)) names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

}  // namespace

TEST(AtomicFile, FailedWriteLeavesOldContentAndNoTempFile) {
  auto dir = fresh_ckpt_dir("atomic");
  const std::string path = (dir / "data.txt").string();
  util::write_text_atomically(path, "version 1");
  EXPECT_THROW(util::write_file_atomically(path,
                                           [](const std::string& tmp) {
                                             std::ofstream(tmp) << "half of version 2";
                                             throw std::runtime_error("disk full (simulated)");
                                           }),
               std::runtime_error);
  std::ifstream in(path);
  std::string content((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(content, "version 1");
  EXPECT_EQ(files_in(dir), (std::vector<std::string>{"data.txt"}));
}

TEST(Checkpoint, RoundTripRestoresParametersInPlaceAndOptimizerState) {
  auto dir = fresh_ckpt_dir("roundtrip");
  torch::manual_seed(0);
  auto model = small_mlp();
  train::FlatParameters flat(*model);
  torch::optim::SGD opt(std::vector<at::Tensor>{flat.optimizer_parameter()}, torch::optim::SGDOptions(0.1).momentum(0.9));
  // One step so that momentum buffers exist.
  auto loss = model->forward(torch::randn({4, 6})).pow(2).sum();
  loss.backward();
  opt.step();
  const at::Tensor saved_values = flat.values().clone();
  train::CheckpointExtras ex;
  ex.meta_json = R"({"step": 1})";
  ex.tensors["tracker"] = torch::arange(5, torch::kFloat);
  const std::string path = (dir / "checkpoint.pt").string();
  train::save_checkpoint(path, *model, &opt, ex);

  flat.values().zero_();
  auto restored = train::load_checkpoint(path, *model, &opt, {"tracker"});
  EXPECT_TRUE(torch::equal(flat.values(), saved_values));
  // Restored in place: the parameters still alias the flat buffer.
  EXPECT_EQ(model->parameters()[0].data_ptr(), flat.values().data_ptr());
  EXPECT_EQ(restored.meta_json, R"({"step": 1})");
  EXPECT_TRUE(torch::equal(restored.tensors.at("tracker"), torch::arange(5, torch::kFloat)));
  EXPECT_EQ(files_in(dir), (std::vector<std::string>{"checkpoint.pt"}));
}

TEST(Checkpoint, MissingAndCorruptFilesAreNamed) {
  auto dir = fresh_ckpt_dir("corrupt");
  auto model = small_mlp();
  try {
    train::load_checkpoint((dir / "none.pt").string(), *model, nullptr);
    FAIL();
  } catch (const std::runtime_error& e) {
    EXPECT_THAT(e.what(), ::testing::HasSubstr("none.pt does not exist"));
  }
  std::ofstream((dir / "bad.pt").string()) << "not a zip archive";
  try {
    train::load_checkpoint((dir / "bad.pt").string(), *model, nullptr);
    FAIL();
  } catch (const train::CheckpointError& e) {
    EXPECT_THAT(e.what(), ::testing::HasSubstr("bad.pt is not a checkpoint (it is a text file"));
  }
}

// Every kind of file that is not a checkpoint is named for what it is, before LibTorch reads it,
// with what was expected, and a real checkpoint next to it when there is one.
TEST(Checkpoint, WhatANonCheckpointIsIsSaidAndLibTorchsMessageIsNot) {
  auto dir = fresh_ckpt_dir("kinds");
  auto model = small_mlp();
  const std::string good = (dir / "checkpoint.pt").string();
  train::save_checkpoint(good, *model, nullptr, {});
  std::string bytes;
  {
    std::ifstream in(good, std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  ASSERT_GT(bytes.size(), 200u);
  auto write = [&](const std::string& name, const std::string& content) {
    std::ofstream((dir / name).string(), std::ios::binary) << content;
    return (dir / name).string();
  };
  // Damaged inside, intact end: the central directory's first entry has lost its signature.
  std::string flipped = bytes;
  const size_t entry = flipped.find(std::string("PK\x01\x02", 4));
  ASSERT_NE(entry, std::string::npos);
  flipped[entry + 2] = '\x7f';
  const std::vector<std::pair<std::string, std::string>> cases{
      {write("model.sparse", std::string("GSPRSMDL") + std::string(40, '\1')), "(it is an exported sparse model)"},
      {write("empty.pt", ""), "(it is empty)"},
      {write("config.toml", "[model]\nname = \"mlp\"\n"), "(it is a text file: a configuration?)"},
      {write("half.pt", bytes.substr(0, bytes.size() / 2)), "(a truncated archive of"},
      {write("binary.pt", std::string("\x01\x02\x03\x04\x05\x06\x07\x08", 8)), "(it is not a LibTorch archive)"},
  };
  for (const auto& [path, what] : cases) {
    try {
      train::load_checkpoint(path, *model, nullptr);
      ADD_FAILURE() << path << " loaded";
    } catch (const train::CheckpointError& e) {
      EXPECT_THAT(e.what(), ::testing::HasSubstr(path + " is not a checkpoint " + what));
      EXPECT_THAT(e.what(), ::testing::HasSubstr("expected a checkpoint .pt written by gossamer train"));
      EXPECT_THAT(e.what(), ::testing::HasSubstr("there is one at " + good));
      EXPECT_THAT(e.what(), ::testing::Not(::testing::HasSubstr("zip")));
    }
  }
  try {
    train::load_checkpoint(dir.string(), *model, nullptr);
    ADD_FAILURE() << "a directory loaded";
  } catch (const train::CheckpointError& e) {
    EXPECT_THAT(e.what(), ::testing::HasSubstr(dir.string() + " is a directory; expected a checkpoint .pt"));
    EXPECT_THAT(e.what(), ::testing::HasSubstr("there is one at " + good));
  }
  // A file that ends like an archive but is damaged inside: still no LibTorch message.
  const std::string damaged = write("damaged.pt", flipped);
  try {
    train::load_checkpoint(damaged, *model, nullptr);
    ADD_FAILURE() << "a damaged archive loaded";
  } catch (const train::CheckpointError& e) {
    EXPECT_THAT(e.what(), ::testing::HasSubstr(damaged + " is not a checkpoint"));
    EXPECT_THAT(e.what(), ::testing::Not(::testing::HasSubstr("PytorchStreamReader")));
  }
  EXPECT_NO_THROW(train::load_checkpoint(good, *model, nullptr));
  std::filesystem::remove_all(dir);
}

TEST(Checkpoint, ShapeMismatchNamesTheKey) {
  auto dir = fresh_ckpt_dir("shape");
  auto model = small_mlp();
  const std::string path = (dir / "c.pt").string();
  train::save_checkpoint(path, *model, nullptr, {});
  models::ModelSpec s;
  s.name = "mlp";
  s.input_shape = {6};
  s.hidden = {7};
  s.num_classes = 3;
  auto other = models::make_model(s);
  try {
    train::load_checkpoint(path, *other, nullptr);
    FAIL();
  } catch (const std::runtime_error& e) {
    EXPECT_THAT(e.what(), ::testing::HasSubstr("'fc1.weight' has shape [5, 6] but the model expects [7, 6]"));
  }
}

TEST(FlatParameters, ParametersAndGradientsAliasTheFlatBuffers) {
  auto model = small_mlp();
  const int64_t n = models::count_parameters(*model);
  train::FlatParameters flat(*model);
  EXPECT_EQ(flat.numel(), n);
  flat.values().fill_(0.5);
  for (const auto& p : model->parameters()) EXPECT_TRUE((p == 0.5).all().item<bool>());
  auto loss = model->forward(torch::ones({2, 6})).sum();
  loss.backward();
  // Backward accumulated into the flat gradient buffer.
  double total = 0;
  for (const auto& p : model->parameters()) total += p.grad().abs().sum().item<double>();
  EXPECT_NEAR(flat.gradients().abs().sum().item<double>(), total, 1e-4);
  EXPECT_GT(total, 0);
  // An optimizer over the flat tensor sees the gradients and moves the model's parameters.
  EXPECT_TRUE(flat.optimizer_parameter().grad().defined());
  const at::Tensor before = model->parameters()[0].detach().clone();
  torch::optim::SGD sgd(std::vector<at::Tensor>{flat.optimizer_parameter()}, torch::optim::SGDOptions(0.1));
  sgd.step();
  EXPECT_FALSE(torch::equal(model->parameters()[0].detach(), before));
  flat.zero_grad();
  for (const auto& p : model->parameters()) EXPECT_EQ(p.grad().abs().sum().item<double>(), 0.0);
}

// Checkpoints are torch.save files (torch_state_dict.h): a dict whose "model" holds PyTorch's names.
TEST(Checkpoint, IsADictPythonReadsWithTheModelUnderPyTorchNames) {
  auto dir = fresh_ckpt_dir("pickled");
  torch::manual_seed(0);
  auto model = small_mlp();
  const std::string path = (dir / "c.pt").string();
  train::CheckpointExtras ex;
  ex.meta_json = R"({"step": 3})";
  train::save_checkpoint(path, *model, nullptr, ex);
  const c10::IValue root = train::load_torch_file(path);
  ASSERT_TRUE(root.isGenericDict());
  const auto d = root.toGenericDict();
  EXPECT_EQ(d.at(std::string("format")).toStringRef(), "gossamer-checkpoint");
  EXPECT_EQ(d.at(std::string("meta_json")).toStringRef(), R"({"step": 3})");
  const auto tensors = train::tensors_of(d.at(std::string("model")), path, "'model'");
  std::vector<std::string> names;
  for (const auto& [name, t] : tensors) names.push_back(name);
  EXPECT_EQ(names, (std::vector<std::string>{"fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"}));
  EXPECT_TRUE(torch::equal(tensors[0].second, model->named_parameters()["fc1.weight"]));
  std::filesystem::remove_all(dir);
}

// Checkpoints written by earlier builds (a LibTorch OutputArchive, "model/" names) still restore.
TEST(Checkpoint, ArchivesOfEarlierBuildsStillLoad) {
  auto dir = fresh_ckpt_dir("archive");
  torch::manual_seed(0);
  auto model = small_mlp();
  torch::serialize::OutputArchive archive;
  for (const auto& p : model->named_parameters(true)) archive.write("model/" + p.key(), p.value().detach(), false);
  archive.write("meta", c10::IValue(std::string(R"({"step": 9})")));
  const std::string path = (dir / "old.pt").string();
  archive.save_to(path);
  ASSERT_TRUE(train::is_libtorch_archive(path));
  auto other = small_mlp();
  for (auto& p : other->parameters()) p.detach().zero_();
  const auto restored = train::load_checkpoint(path, *other, nullptr);
  EXPECT_EQ(restored.meta_json, R"({"step": 9})");
  EXPECT_TRUE(torch::equal(other->named_parameters()["fc2.bias"], model->named_parameters()["fc2.bias"]));
  std::filesystem::remove_all(dir);
}

// A plain state_dict (what Python's torch.save(model.state_dict()) and RUN/model.pt are) gives
// weights to train.init_from, but cannot resume a run: it has no optimizer state.
TEST(Checkpoint, AStateDictInitialisesButCannotResume) {
  auto dir = fresh_ckpt_dir("state_dict");
  torch::manual_seed(0);
  auto model = small_mlp();
  const std::string path = (dir / "model.pt").string();
  train::save_torch_file(path, train::tensor_dict(train::state_dict_of(*model)));
  auto other = small_mlp();
  for (auto& p : other->parameters()) p.detach().zero_();
  train::load_checkpoint(path, *other, nullptr);
  EXPECT_TRUE(torch::equal(other->named_parameters()["fc1.weight"], model->named_parameters()["fc1.weight"]));
  torch::optim::SGD opt(other->parameters(), torch::optim::SGDOptions(0.1));
  try {
    train::load_checkpoint(path, *other, &opt);
    FAIL() << "a state_dict resumed";
  } catch (const train::CheckpointError& e) {
    EXPECT_THAT(e.what(), ::testing::HasSubstr(path + " holds model weights only (a state_dict)"));
  }
  std::filesystem::remove_all(dir);
}
