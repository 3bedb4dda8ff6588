#include "gossamer/data/fashion_mnist.h"

#include <ATen/ATen.h>
#include <zlib.h>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <memory>

namespace gossamer::data {

namespace {

// gzread reads plain files transparently, so one reader serves both .gz and uncompressed IDX.
struct GzCloser {
  void operator()(gzFile f) const { gzclose(f); }
};
using GzFile = std::unique_ptr<std::remove_pointer_t<gzFile>, GzCloser>;

size_t read_bytes(gzFile f, void* dst, size_t n, const std::string& path) {
  size_t total = 0;
  auto* p = static_cast<uint8_t*>(dst);
  while (total < n) {
    const unsigned chunk = static_cast<unsigned>(std::min<size_t>(n - total, 1u << 30));
    const int got = gzread(f, p + total, chunk);
    if (got < 0) {
      int errnum = 0;
      const char* msg = gzerror(f, &errnum);
      throw DataError(path + ": corrupt gzip stream (" + std::string(msg ? msg : "unknown error") + ")");
    }
    if (got == 0) break;
    total += static_cast<size_t>(got);
  }
  return total;
}

uint32_t big_endian(const uint8_t* b) {
  return (uint32_t{b[0]} << 24) | (uint32_t{b[1]} << 16) | (uint32_t{b[2]} << 8) | uint32_t{b[3]};
}

}  // namespace

at::Tensor read_idx_file(const std::string& path, int expected_rank) {
  if (!std::filesystem::exists(path)) {
    throw DataError(path + ": file not found (install Debian's dataset-fashion-mnist package, "
                           "or set data.path to the folder holding the IDX files)");
  }
  GzFile f(gzopen(path.c_str(), "rb"));
  if (!f) throw DataError(path + ": cannot open: " + std::strerror(errno));

  uint8_t header[4];
  if (read_bytes(f.get(), header, 4, path) != 4) throw DataError(path + ": truncated: no IDX header");
  if (header[0] != 0 || header[1] != 0) {
    throw DataError(path + ": bad magic number (first two bytes must be zero): not an IDX file");
  }
  if (header[2] != 0x08) {
    throw DataError(path + ": unsupported IDX element type 0x" + std::to_string(header[2]) +
                    " (expected 0x08, unsigned byte)");
  }
  const int rank = header[3];
  if (rank != expected_rank) {
    throw DataError(path + ": has " + std::to_string(rank) + " dimensions, expected " + std::to_string(expected_rank));
  }
  std::vector<int64_t> dims(static_cast<size_t>(rank));
  int64_t count = 1;
  for (int d = 0; d < rank; ++d) {
    uint8_t b[4];
    if (read_bytes(f.get(), b, 4, path) != 4) throw DataError(path + ": truncated inside the IDX header");
    dims[static_cast<size_t>(d)] = big_endian(b);
    if (dims[static_cast<size_t>(d)] == 0) throw DataError(path + ": dimension " + std::to_string(d) + " is zero");
    count *= dims[static_cast<size_t>(d)];
    if (count > (int64_t{1} << 34)) throw DataError(path + ": dimensions too large to be an IDX dataset");
  }
  at::Tensor out = at::empty(dims, at::kByte);
  const size_t want = static_cast<size_t>(count);
  const size_t got = read_bytes(f.get(), out.data_ptr<uint8_t>(), want, path);
  if (got != want) {
    throw DataError(path + ": truncated: header promises " + std::to_string(want) + " bytes of data, file has " +
                    std::to_string(got));
  }
  uint8_t extra;
  if (read_bytes(f.get(), &extra, 1, path) != 0) {
    throw DataError(path + ": corrupt: more data than the header's dimensions allow");
  }
  return out;
}

namespace {

Dataset load_split(const std::string& dir, const std::string& prefix, double mean, double stddev) {
  const std::string images_path = dir + "/" + prefix + "-images-idx3-ubyte.gz";
  const std::string labels_path = dir + "/" + prefix + "-labels-idx1-ubyte.gz";
  at::Tensor images = read_idx_file(images_path, 3);
  at::Tensor labels = read_idx_file(labels_path, 1);
  if (images.size(0) != labels.size(0)) {
    throw DataError(images_path + " has " + std::to_string(images.size(0)) + " images but " + labels_path + " has " +
                    std::to_string(labels.size(0)) + " labels");
  }
  if (images.size(1) != 28 || images.size(2) != 28) {
    throw DataError(images_path + ": images are " + std::to_string(images.size(1)) + "x" +
                    std::to_string(images.size(2)) + ", expected 28x28");
  }
  if (labels.max().item<int>() > 9) throw DataError(labels_path + ": label above 9 found");
  Dataset ds;
  ds.inputs = images.to(at::kFloat).div_(255.0).sub_(mean).div_(stddev).unsqueeze(1).contiguous();
  ds.targets = labels.to(at::kLong);
  ds.num_classes = 10;
  return ds;
}

}  // namespace

// Mean and standard deviation of the 60k training images, so train and test share one transform.
constexpr double kMean = 0.2860;
constexpr double kStd = 0.3530;

FashionMnist load_fashion_mnist(const std::string& dir) {
  FashionMnist out;
  out.train = load_split(dir, "train", kMean, kStd);
  out.test = load_split(dir, "t10k", kMean, kStd);
  return out;
}

Dataset load_fashion_mnist_test(const std::string& dir) { return load_split(dir, "t10k", kMean, kStd); }

}  // namespace gossamer::data
