#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <zlib.h>

#include <ATen/ATen.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "gossamer/data/fashion_mnist.h"

using gossamer::data::DataError;
using gossamer::data::read_idx_file;
using ::testing::HasSubstr;

namespace {

std::string temp_path(const std::string& name) {
  auto dir = std::filesystem::temp_directory_path() / ("gossamer_idx_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  return (dir / name).string();
}

std::vector<uint8_t> idx_bytes(uint8_t type, std::vector<uint32_t> dims, size_t payload) {
  std::vector<uint8_t> b{0, 0, type, static_cast<uint8_t>(dims.size())};
  for (uint32_t d : dims) {
    for (int s = 24; s >= 0; s -= 8) b.push_back(static_cast<uint8_t>(d >> s));
  }
  for (size_t i = 0; i < payload; ++i) b.push_back(static_cast<uint8_t>(i % 251));
  return b;
}

void write_gz(const std::string& path, const std::vector<uint8_t>& bytes) {
  gzFile f = gzopen(path.c_str(), "wb");
  ASSERT_NE(f, nullptr);
  if (!bytes.empty()) {
    ASSERT_EQ(gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size())), static_cast<int>(bytes.size()));
  }
  gzclose(f);
}

void write_raw(const std::string& path, const std::vector<uint8_t>& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}

std::string error_of(const std::string& path, int rank) {
  try {
    read_idx_file(path, rank);
  } catch (const DataError& e) {
    return e.what();
  }
  return "no error";
}

}  // namespace

TEST(IdxReader, ReadsAValidGzippedFile) {
  const auto p = temp_path("ok.gz");
  write_gz(p, idx_bytes(0x08, {3, 2, 2}, 12));
  at::Tensor t = read_idx_file(p, 3);
  EXPECT_EQ(t.sizes(), (std::vector<int64_t>{3, 2, 2}));
  EXPECT_EQ(t.flatten()[11].item<int>(), 11);
}

TEST(IdxReader, ReadsAnUncompressedFile) {
  const auto p = temp_path("plain.idx");
  write_raw(p, idx_bytes(0x08, {5}, 5));
  EXPECT_EQ(read_idx_file(p, 1).numel(), 5);
}

TEST(IdxReader, MissingFileNamesThePathAndTheFix) {
  const std::string msg = error_of("/nonexistent/train-images-idx3-ubyte.gz", 3);
  EXPECT_THAT(msg, HasSubstr("/nonexistent/train-images-idx3-ubyte.gz"));
  EXPECT_THAT(msg, HasSubstr("file not found"));
  EXPECT_THAT(msg, HasSubstr("dataset-fashion-mnist"));
}

TEST(IdxReader, TruncatedPayload) {
  const auto p = temp_path("trunc.gz");
  write_gz(p, idx_bytes(0x08, {10, 28, 28}, 100));
  const std::string msg = error_of(p, 3);
  EXPECT_THAT(msg, HasSubstr(p));
  EXPECT_THAT(msg, HasSubstr("truncated: header promises 7840 bytes of data, file has 100"));
}

TEST(IdxReader, TruncatedHeader) {
  const auto p = temp_path("trunc_header.gz");
  write_gz(p, {0, 0, 8});
  EXPECT_THAT(error_of(p, 1), HasSubstr("truncated: no IDX header"));
  write_gz(p, {0, 0, 8, 3, 0, 0});
  EXPECT_THAT(error_of(p, 3), HasSubstr("truncated inside the IDX header"));
}

TEST(IdxReader, BadMagicNumber) {
  const auto p = temp_path("magic.gz");
  auto b = idx_bytes(0x08, {2}, 2);
  b[0] = 0x1f;
  write_gz(p, b);
  EXPECT_THAT(error_of(p, 1), HasSubstr("bad magic number"));
}

TEST(IdxReader, WrongElementTypeAndRank) {
  const auto p = temp_path("type.gz");
  write_gz(p, idx_bytes(0x0D, {2}, 8));
  EXPECT_THAT(error_of(p, 1), HasSubstr("unsupported IDX element type"));
  write_gz(p, idx_bytes(0x08, {2, 2}, 4));
  EXPECT_THAT(error_of(p, 3), HasSubstr("has 2 dimensions, expected 3"));
}

TEST(IdxReader, TrailingGarbage) {
  const auto p = temp_path("extra.gz");
  write_gz(p, idx_bytes(0x08, {2}, 3));
  EXPECT_THAT(error_of(p, 1), HasSubstr("more data than the header"));
}

TEST(IdxReader, CorruptGzipStream) {
  const auto p = temp_path("corrupt.gz");
  write_gz(p, idx_bytes(0x08, {1000}, 1000));
  // Flip bytes in the middle of the deflate stream.
  std::fstream f(p, std::ios::in | std::ios::out | std::ios::binary);
  f.seekp(20);
  const char junk[8] = {'\xff', '\x00', '\xff', '\x13', '\x37', '\x00', '\xff', '\x42'};
  f.write(junk, 8);
  f.close();
  const std::string msg = error_of(p, 1);
  EXPECT_THAT(msg, HasSubstr(p));
  EXPECT_NE(msg, "no error");
}

TEST(FashionMnist, LoadsTheDebianPackageWithCorrectShapes) {
  if (!std::filesystem::exists(std::string(gossamer::data::kDefaultFashionMnistDir) + "/t10k-labels-idx1-ubyte.gz")) {
    GTEST_SKIP() << "dataset-fashion-mnist is not installed";
  }
  auto fm = gossamer::data::load_fashion_mnist();
  EXPECT_EQ(fm.train.inputs.sizes(), (std::vector<int64_t>{60000, 1, 28, 28}));
  EXPECT_EQ(fm.test.inputs.sizes(), (std::vector<int64_t>{10000, 1, 28, 28}));
  EXPECT_EQ(fm.train.targets.bincount().min().item<int64_t>(), 6000);  // balanced classes
  // Normalised with the training statistics: mean ~0, std ~1.
  EXPECT_NEAR(fm.train.inputs.mean().item<double>(), 0.0, 1e-3);
  EXPECT_NEAR(fm.train.inputs.std().item<double>(), 1.0, 1e-2);
}

TEST(FashionMnist, ImagesAndLabelsMustAgree) {
  auto dir = std::filesystem::path(temp_path("fm"));
  std::filesystem::create_directories(dir);
  write_gz((dir / "train-images-idx3-ubyte.gz").string(), idx_bytes(0x08, {3, 28, 28}, 3 * 784));
  write_gz((dir / "train-labels-idx1-ubyte.gz").string(), idx_bytes(0x08, {2}, 2));
  try {
    gossamer::data::load_fashion_mnist(dir.string());
    FAIL() << "expected DataError";
  } catch (const DataError& e) {
    EXPECT_THAT(e.what(), HasSubstr("has 3 images but"));
    EXPECT_THAT(e.what(), HasSubstr("has 2 labels"));
  }
}
