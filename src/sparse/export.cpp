#include "gossamer/sparse/export.h"

#include <ATen/ATen.h>
#include <torch/nn/module.h>
#include <zlib.h>

#include <nlohmann/json.hpp>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <stdexcept>

#include "gossamer/models/footprint.h"
#include "gossamer/sparse/mask_bits.h"
#include "gossamer/util/atomic_file.h"
#include "gossamer/util/system_memory.h"

namespace gossamer::sparse {

namespace {

constexpr char kMagic[8] = {'G', 'S', 'P', 'R', 'S', 'M', 'D', 'L'};
// Version 1: encodings "dense" and "csr". Version 2 adds "masked" (dense values + a bitmask). A file
// is written with the lowest version that holds its encodings, so a model whose pruned layers all
// pay as CSR stays readable by builds that read only version 1.
constexpr uint32_t kVersionCsrOnly = 1;
constexpr uint32_t kVersionMasked = 2;

void append(std::string& out, const void* data, size_t bytes) {
  out.append(static_cast<const char*>(data), bytes);
}

template <typename T>
void append_value(std::string& out, T v) {
  append(out, &v, sizeof v);
}

std::map<std::string, at::Tensor> named_tensors(const torch::nn::Module& model) {
  std::map<std::string, at::Tensor> out;
  for (const auto& p : model.named_parameters(true)) out[p.key()] = p.value();
  for (const auto& b : model.named_buffers(true)) out[b.key()] = b.value();
  return out;
}

// Payload bytes of a [rows, ·] layer with nnz kept weights in each encoding.
size_t csr_bytes(int64_t rows, int64_t nnz, int64_t index_bytes) {
  return static_cast<size_t>((rows + 1) * 4 + nnz * (index_bytes + 4));
}
size_t masked_bytes(int64_t numel) { return static_cast<size_t>(numel * 4 + (numel + 7) / 8); }

}  // namespace

int64_t export_sparse_model(const std::string& path, const models::ModelSpec& spec, const torch::nn::Module& model,
                            const std::map<std::string, at::Tensor>& masks) {
  const auto tensors = named_tensors(model);
  for (const auto& [name, m] : masks) {
    auto it = tensors.find(name);
    if (it == tensors.end()) throw std::invalid_argument("export: the model has no parameter '" + name + "'");
    if (it->second.numel() != m.numel()) throw std::invalid_argument("export: mask for '" + name + "' has the wrong size");
  }
  nlohmann::json header;
  header["model"] = {{"name", spec.name},
                     {"input_shape", spec.input_shape},
                     {"num_classes", spec.num_classes},
                     {"hidden", spec.hidden},
                     {"width", spec.width},
                     {"transformer",
                      {{"dim", spec.transformer.dim},
                       {"depth", spec.transformer.depth},
                       {"heads", spec.transformer.heads},
                       {"mlp_ratio", spec.transformer.mlp_ratio},
                       {"patch", spec.transformer.patch},
                       {"stem_channels", spec.transformer.stem_channels}}}};
  header["tensors"] = nlohmann::json::array();
  std::string payload;
  uint32_t version = kVersionCsrOnly;
  for (const auto& [name, t] : tensors) {
    at::Tensor w = t.detach().to(at::kFloat).contiguous();
    nlohmann::json entry{{"name", name}, {"shape", w.sizes().vec()}, {"offset", payload.size()}};
    auto mit = masks.find(name);
    if (mit != masks.end() && w.dim() >= 2) {
      const int64_t rows = w.size(0), cols = w.numel() / std::max<int64_t>(1, rows);
      const at::Tensor mask = mit->second.reshape({rows, cols});
      kernels::CsrWeight csr = kernels::csr_from_dense(w.view({rows, cols}), mask);
      const bool narrow = cols <= 65536;
      const int64_t index_bytes = narrow ? 2 : 4;
      entry["nnz"] = csr.nnz();
      if (w.numel() == 0 || csr_bytes(rows, csr.nnz(), index_bytes) <= masked_bytes(w.numel())) {
        entry["encoding"] = "csr";
        entry["index_bytes"] = index_bytes;
        append(payload, csr.row_ptr.data(), csr.row_ptr.size() * sizeof(int32_t));
        if (narrow) {
          for (int32_t c : csr.col_idx) append_value(payload, static_cast<uint16_t>(c));
        } else {
          append(payload, csr.col_idx.data(), csr.col_idx.size() * sizeof(int32_t));
        }
        append(payload, csr.values.data_ptr<float>(), static_cast<size_t>(csr.nnz()) * sizeof(float));
      } else {
        // Too dense for CSR to pay (more than about 2/3 of the weights kept): every value, zeros off
        // the mask as CSR would give, then the mask as bits.
        entry["encoding"] = "masked";
        version = kVersionMasked;
        const at::Tensor kept = mask.ne(0);
        const at::Tensor values = w.view({rows, cols}).mul(kept).contiguous();
        const at::Tensor bits = pack_mask_bits(kept.to(at::kFloat)).contiguous();
        append(payload, values.data_ptr<float>(), static_cast<size_t>(values.numel()) * sizeof(float));
        append(payload, bits.data_ptr<uint8_t>(), static_cast<size_t>(bits.numel()));
      }
    } else {
      entry["encoding"] = "dense";
      append(payload, w.data_ptr<float>(), static_cast<size_t>(w.numel()) * sizeof(float));
    }
    entry["bytes"] = payload.size() - entry["offset"].get<size_t>();
    header["tensors"].push_back(entry);
  }
  const std::string header_text = header.dump();
  std::string file;
  append(file, kMagic, sizeof kMagic);
  append_value(file, version);
  append_value(file, static_cast<uint64_t>(header_text.size()));
  file += header_text;
  file += payload;
  append_value(file, static_cast<uint32_t>(crc32(0L, reinterpret_cast<const Bytef*>(payload.data()),
                                                 static_cast<uInt>(payload.size()))));
  util::write_text_atomically(path, file);
  return static_cast<int64_t>(file.size());
}

SparseModel load_sparse_model(const std::string& path) {
  auto fail = [&](const std::string& what) -> std::runtime_error {
    return std::runtime_error("sparse model '" + path + "': " + what);
  };
  std::ifstream in(path, std::ios::binary);
  if (!in) throw fail("cannot be read (does the file exist?)");
  std::string file((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const size_t fixed = sizeof kMagic + sizeof(uint32_t) + sizeof(uint64_t);
  if (file.size() < sizeof kMagic || std::memcmp(file.data(), kMagic, sizeof kMagic) != 0) {
    throw fail("not a Gossamer sparse model file (bad magic); export one with `gossamer train` or `gossamer prune`");
  }
  if (file.size() < fixed) throw fail("truncated after the magic (" + std::to_string(file.size()) + " bytes)");
  uint32_t version;
  uint64_t header_bytes;
  std::memcpy(&version, file.data() + sizeof kMagic, sizeof version);
  std::memcpy(&header_bytes, file.data() + sizeof kMagic + sizeof version, sizeof header_bytes);
  if (version != kVersionCsrOnly && version != kVersionMasked) {
    throw fail("version " + std::to_string(version) + " is not supported (this build reads 1 and 2)");
  }
  if (header_bytes > file.size() - fixed) throw fail("truncated header");
  nlohmann::json header;
  try {
    header = nlohmann::json::parse(file.substr(fixed, header_bytes));
  } catch (const std::exception& e) {
    throw fail(std::string("corrupt header: ") + e.what());
  }
  const size_t payload_at = fixed + header_bytes;
  if (file.size() < payload_at + sizeof(uint32_t)) throw fail("truncated (no payload)");
  const size_t payload_bytes = file.size() - payload_at - sizeof(uint32_t);
  const char* payload = file.data() + payload_at;
  uint32_t stored_crc;
  std::memcpy(&stored_crc, payload + payload_bytes, sizeof stored_crc);
  const auto crc = static_cast<uint32_t>(crc32(0L, reinterpret_cast<const Bytef*>(payload), static_cast<uInt>(payload_bytes)));
  if (crc != stored_crc) throw fail("checksum mismatch: the file is corrupt or truncated");

  SparseModel out;
  out.file_bytes = static_cast<int64_t>(file.size());
  // A header that parses as JSON can still lack a field or hold the wrong type in one.
  try {
    const auto& m = header.at("model");
    out.spec.name = m.at("name").get<std::string>();
    out.spec.input_shape = m.at("input_shape").get<std::vector<int64_t>>();
    out.spec.num_classes = m.at("num_classes").get<int64_t>();
    out.spec.hidden = m.at("hidden").get<std::vector<int64_t>>();
    out.spec.width = m.at("width").get<int64_t>();
    if (m.contains("transformer")) {  // absent in files written before the transformers
      const auto& t = m.at("transformer");
      out.spec.transformer.dim = t.at("dim").get<int64_t>();
      out.spec.transformer.depth = t.at("depth").get<int64_t>();
      out.spec.transformer.heads = t.at("heads").get<int64_t>();
      out.spec.transformer.mlp_ratio = t.at("mlp_ratio").get<int64_t>();
      out.spec.transformer.patch = t.at("patch").get<int64_t>();
      out.spec.transformer.stem_channels = t.at("stem_channels").get<int64_t>();
    }
    // The header says which model to build; a crafted or damaged one could ask for billions of
    // parameters (model.hidden is unbounded), which the allocator would fail on with a stack trace
    // or the kernel end. Sized first, without allocating, against the memory available.
    const double weights = 4.0 * models::model_footprint(out.spec).parameters;
    const double available = util::memory_available_bytes();
    if (available > 0 && weights > 0.5 * available) {
      char sizes[160];
      std::snprintf(sizes, sizeof sizes, "%.3g GB of weights, more than half the %.1f GB of memory available",
                    weights / 1e9, available / 1e9);
      throw fail("its header describes a model '" + out.spec.name + "' of " + sizes +
                 "; the file is damaged or was not written for this machine");
    }
    out.model = models::make_model(out.spec);
    auto tensors = named_tensors(*out.model);
    size_t restored = 0;
    at::NoGradGuard no_grad;
    for (const auto& entry : header.at("tensors")) {
      const auto name = entry.at("name").get<std::string>();
      const auto shape = entry.at("shape").get<std::vector<int64_t>>();
      const size_t offset = entry.at("offset").get<size_t>(), bytes = entry.at("bytes").get<size_t>();
      if (offset + bytes > payload_bytes) throw fail("tensor '" + name + "' lies outside the payload");
      auto it = tensors.find(name);
      if (it == tensors.end() || it->second.sizes().vec() != shape) {
        throw fail("tensor '" + name + "' does not match model '" + out.spec.name + "'");
      }
      const char* p = payload + offset;
      at::Tensor target = it->second;
      const auto encoding = entry.at("encoding").get<std::string>();
      out.encodings[name] = encoding;
      if (encoding == "csr") {
        if (shape.empty() || shape[0] < 1) throw fail("tensor '" + name + "' is stored as CSR but has no rows");
        const int64_t rows = shape[0], cols = target.numel() / rows, nnz = entry.at("nnz").get<int64_t>();
        if (nnz < 0 || nnz > target.numel()) throw fail("tensor '" + name + "' has an inconsistent size");
        const int64_t index_bytes = entry.at("index_bytes").get<int64_t>();
        if (index_bytes != 2 && index_bytes != 4) {
          throw fail("tensor '" + name + "' has index_bytes " + std::to_string(index_bytes) + " (2 or 4)");
        }
        const size_t need = static_cast<size_t>((rows + 1) * 4 + nnz * index_bytes + nnz * 4);
        if (need != bytes) throw fail("tensor '" + name + "' has an inconsistent size");
        std::vector<int32_t> row_ptr(static_cast<size_t>(rows + 1)), col_idx(static_cast<size_t>(nnz));
        std::memcpy(row_ptr.data(), p, row_ptr.size() * 4);
        p += row_ptr.size() * 4;
        for (int64_t k = 0; k < nnz; ++k) {
          if (index_bytes == 2) {
            uint16_t c;
            std::memcpy(&c, p + 2 * k, 2);
            col_idx[static_cast<size_t>(k)] = c;
          } else {
            std::memcpy(&col_idx[static_cast<size_t>(k)], p + 4 * k, 4);
          }
        }
        p += nnz * index_bytes;
        at::Tensor values = at::empty({nnz}, at::kFloat);
        std::memcpy(values.data_ptr<float>(), p, static_cast<size_t>(nnz) * 4);
        kernels::CsrWeight csr;
        try {
          csr = kernels::csr_from_parts(rows, cols, std::move(row_ptr), std::move(col_idx), values);
        } catch (const std::exception& e) {
          throw fail("tensor '" + name + "': " + e.what());
        }
        target.copy_(kernels::csr_to_dense(csr).view(shape));
        out.sparse.emplace(name, std::move(csr));
      } else if (encoding == "masked" && version >= kVersionMasked) {
        if (shape.empty() || shape[0] < 1) throw fail("tensor '" + name + "' is masked but has no rows");
        const int64_t numel = target.numel(), rows = shape[0], cols = numel / rows, nnz = entry.at("nnz").get<int64_t>();
        if (nnz < 0 || nnz > numel) throw fail("tensor '" + name + "' has an inconsistent size");
        if (bytes != masked_bytes(numel)) throw fail("tensor '" + name + "' has an inconsistent size");
        at::Tensor values = at::empty({rows, cols}, at::kFloat);
        std::memcpy(values.data_ptr<float>(), p, static_cast<size_t>(numel) * 4);
        at::Tensor bits = at::empty({(numel + 7) / 8}, at::kByte);
        std::memcpy(bits.data_ptr<uint8_t>(), p + numel * 4, static_cast<size_t>(bits.numel()));
        at::Tensor mask = at::empty({rows, cols}, at::kFloat);
        unpack_mask_bits(bits, mask);
        if (mask.sum().item<double>() != static_cast<double>(nnz)) {
          throw fail("tensor '" + name + "': the mask keeps a different number of weights than the header says");
        }
        kernels::CsrWeight csr;
        try {
          csr = kernels::csr_from_dense(values, mask);
        } catch (const std::exception& e) {
          throw fail("tensor '" + name + "': " + e.what());
        }
        target.copy_(values.view(shape));
        out.sparse.emplace(name, std::move(csr));
      } else if (encoding == "dense") {
        if (bytes != static_cast<size_t>(target.numel()) * 4) throw fail("tensor '" + name + "' has an inconsistent size");
        at::Tensor src = at::empty(shape, at::kFloat);
        std::memcpy(src.data_ptr<float>(), p, bytes);
        target.copy_(src);
      } else {
        throw fail("tensor '" + name + "' has encoding '" + encoding + "', which version " + std::to_string(version) +
                   " files do not have");
      }
      ++restored;
    }
    if (restored != tensors.size()) throw fail("holds " + std::to_string(restored) + " tensors, the model has " +
                                               std::to_string(tensors.size()));
  } catch (const nlohmann::json::exception& e) {
    throw fail(std::string("corrupt header: ") + e.what());
  }
  out.model->eval();
  return out;
}

}  // namespace gossamer::sparse
