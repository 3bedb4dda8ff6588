// Fashion-MNIST from the gzipped IDX files of Debian's `dataset-fashion-mnist` package.
#pragma once

#include <ATen/core/Tensor.h>

#include <string>

#include "gossamer/data/dataset.h"

namespace gossamer::data {

constexpr const char* kDefaultFashionMnistDir = "/usr/share/datasets/fashion-mnist";

// Reads one IDX file (gzipped or plain) into a uint8 tensor shaped by the file's dimensions.
// Checks the magic number (type 0x08 = unsigned byte), `expected_rank` dimensions, and that the
// payload is exactly as long as the dimensions say; throws DataError naming the file otherwise.
at::Tensor read_idx_file(const std::string& path, int expected_rank);

struct FashionMnist {
  Dataset train;  // 60 000 images [N, 1, 28, 28], normalised with the training mean/std
  Dataset test;   // 10 000 images
};

// Loads the four files from `dir`; images and label counts must agree.
FashionMnist load_fashion_mnist(const std::string& dir = kDefaultFashionMnistDir);

// The 10 000 test images alone (the same transform as load_fashion_mnist), for inference.
Dataset load_fashion_mnist_test(const std::string& dir = kDefaultFashionMnistDir);

}  // namespace gossamer::data
