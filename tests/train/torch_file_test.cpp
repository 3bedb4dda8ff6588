// load_torch_file on damaged files: whatever the bytes of a torch.save file's pickle say (sizes,
// strides, element counts, opcodes), reading either succeeds or throws TorchFileError naming the
// file; it never crashes, reads outside a storage or allocates more than the file holds.
#include <gtest/gtest.h>

#include <caffe2/serialize/inline_container.h>
#include <torch/torch.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <unistd.h>
#include <vector>

#include "gossamer/train/torch_state_dict.h"

namespace torch_file_test {

using gossamer::train::load_torch_file;
using gossamer::train::save_torch_file;
using gossamer::train::tensor_dict;
using gossamer::train::TorchFileError;

struct Records {
  std::vector<std::pair<std::string, std::string>> entries;  // name (without the archive folder), bytes
};

Records read_records(const std::string& path) {
  caffe2::serialize::PyTorchStreamReader reader(path);
  Records r;
  for (const std::string& name : reader.getAllRecords()) {
    auto [data, size] = reader.getRecord(name);
    r.entries.emplace_back(name, std::string(static_cast<const char*>(data.get()), size));
  }
  return r;
}

// A well-formed zip archive (the zip layer's checksums match) around possibly damaged records.
void write_records(const std::string& path, const Records& r) {
  std::ofstream out(path, std::ios::binary);
  caffe2::serialize::PyTorchStreamWriter writer(
      [&](const void* data, size_t n) { out.write(static_cast<const char*>(data), static_cast<std::streamsize>(n)); return n; });
  for (const auto& [name, bytes] : r.entries) {
    if (name == "version") continue;  // the writer adds its own
    writer.writeRecord(name, bytes.data(), bytes.size());
  }
  writer.writeEndOfFile();
}

class TorchFile : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("gossamer_torch_file_" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string path(const std::string& name) const { return (dir_ / name).string(); }
  std::filesystem::path dir_;
};

TEST_F(TorchFile, DamagedPicklesAreRefusedNamingTheFileAndNeverCrash) {
  const std::string good = path("good.pt");
  save_torch_file(good, tensor_dict({{"fc1.weight", torch::arange(12, torch::kFloat).view({3, 4})},
                                     {"fc1.bias", torch::ones({3})},
                                     {"steps", torch::tensor({7}, torch::kLong)}}));
  ASSERT_NO_THROW(load_torch_file(good));
  const Records original = read_records(good);
  size_t pickle = original.entries.size();
  for (size_t i = 0; i < original.entries.size(); ++i) {
    if (original.entries[i].first.size() >= 8 &&
        original.entries[i].first.compare(original.entries[i].first.size() - 8, 8, "data.pkl") == 0) {
      pickle = i;
    }
  }
  ASSERT_LT(pickle, original.entries.size()) << "no data.pkl record";
  const std::string& pkl = original.entries[pickle].second;
  ASSERT_GT(pkl.size(), 20u);

  // 1500 damaged copies, bounded: one to four bytes set to random values (sizes, strides, counts,
  // opcodes and memo indices all live in these bytes), or the pickle cut short.
  std::mt19937 rng(12345);
  int refused = 0, loaded = 0;
  const std::string damaged = path("damaged.pt");
  for (int trial = 0; trial < 1500; ++trial) {
    Records r = original;
    std::string& bytes = r.entries[pickle].second;
    if (trial % 10 == 9) {
      bytes.resize(std::uniform_int_distribution<size_t>(0, bytes.size() - 1)(rng));
    } else {
      const int flips = 1 + static_cast<int>(rng() % 4);
      for (int f = 0; f < flips; ++f) {
        bytes[std::uniform_int_distribution<size_t>(0, bytes.size() - 1)(rng)] = static_cast<char>(rng() & 0xff);
      }
    }
    write_records(damaged, r);
    try {
      const c10::IValue v = load_torch_file(damaged);
      ++loaded;  // a change that still reads (e.g. a different value): fine, nothing read out of bounds
      (void)v;
    } catch (const TorchFileError& e) {
      ++refused;
      EXPECT_NE(std::string(e.what()).find(damaged), std::string::npos) << e.what();
    }
    // Any other exception type, or a crash, fails the test.
  }
  EXPECT_EQ(refused + loaded, 1500);
  EXPECT_GT(refused, 750) << "most damage must be noticed";
}

// A storage record shorter than the element count the pickle claims: refused before allocating.
TEST_F(TorchFile, AStorageShorterThanItsCountIsRefused) {
  const std::string good = path("good.pt");
  save_torch_file(good, tensor_dict({{"w", torch::ones({1000})}}));
  Records r = read_records(good);
  bool cut = false;
  for (auto& [name, bytes] : r.entries) {
    if (name.find("data/") != std::string::npos) {
      bytes.resize(100);  // 25 floats where the pickle says 1000
      cut = true;
    }
  }
  ASSERT_TRUE(cut);
  const std::string bad = path("short.pt");
  write_records(bad, r);
  try {
    load_torch_file(bad);
    ADD_FAILURE() << "no throw";
  } catch (const TorchFileError& e) {
    EXPECT_NE(std::string(e.what()).find("claims 1000 elements"), std::string::npos) << e.what();
  }
}

}  // namespace torch_file_test
