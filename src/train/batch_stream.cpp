#include "gossamer/train/batch_stream.h"

#include <ATen/ATen.h>

#include <stdexcept>

namespace gossamer::train {

BatchStream::BatchStream(const data::Dataset& data, int64_t batch_size, uint64_t seed, data::SampleOrder order)
    : data_(data), n_(data.size()), batch_size_(batch_size), seed_(seed), order_kind_(order) {
  if (n_ < 1) throw std::invalid_argument("BatchStream: the dataset is empty");
  if (batch_size_ < 1) throw std::invalid_argument("BatchStream: batch size must be >= 1");
  index_ = at::empty({batch_size_}, at::kLong);
}

const std::vector<int64_t>& BatchStream::order_for(int64_t epoch) {
  if (epoch != cached_epoch_) {
    cached_order_ = data::epoch_order(n_, seed_, epoch, order_kind_);
    cached_epoch_ = epoch;
  }
  return cached_order_;
}

Batch BatchStream::batch(int64_t k) {
  int64_t* idx = index_.data_ptr<int64_t>();
  const int64_t start = k * batch_size_;
  for (int64_t i = 0; i < batch_size_; ++i) {
    const int64_t pos = start + i;
    idx[i] = order_for(pos / n_)[static_cast<size_t>(pos % n_)];
  }
  return Batch{data_.inputs.index_select(0, index_), data_.targets.index_select(0, index_)};
}

}  // namespace gossamer::train
