#include "gossamer/train/torch_state_dict.h"

#include <ATen/ATen.h>
#include <caffe2/serialize/inline_container.h>
#include <torch/nn/module.h>
#include <torch/csrc/api/include/torch/serialize.h>

#include <cstring>
#include <fstream>
#include <map>

#include "gossamer/util/atomic_file.h"

namespace gossamer::train {

NamedTensors state_dict_of(const torch::nn::Module& module) {
  NamedTensors out;
  for (const auto& p : module.named_parameters(true)) out.emplace_back(p.key(), p.value());
  for (const auto& b : module.named_buffers(true)) out.emplace_back(b.key(), b.value());
  return out;
}

c10::IValue tensor_dict(const NamedTensors& tensors) {
  c10::Dict<std::string, at::Tensor> d;
  for (const auto& [name, t] : tensors) d.insert(name, t.detach().to(at::kCPU).contiguous());
  return d;
}

void save_torch_file(const std::string& path, const c10::IValue& value) {
  const std::vector<char> bytes = torch::pickle_save(value);
  util::write_file_atomically(path, [&](const std::string& tmp) {
    std::ofstream out(tmp, std::ios::binary);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    if (!out.flush()) throw TorchFileError(tmp, "cannot be written");
  });
}

namespace {

// What the unpickler found wrong, without the file's name (load_torch_file adds it).
struct PickleError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// A Python global (a class or function named by GLOBAL / STACK_GLOBAL) on the unpickler's stack.
// No IValue kind means "a callable", so it is kept as a str with a first byte no module name has.
constexpr char kGlobalTag = '\x01';
bool is_global(const c10::IValue& v) { return v.isString() && !v.toStringRef().empty() && v.toStringRef()[0] == kGlobalTag; }
std::string global_name(const c10::IValue& v) { return v.toStringRef().substr(1); }

at::ScalarType storage_dtype(const std::string& storage_class) {
  static const std::map<std::string, at::ScalarType> kTypes{
      {"torch.FloatStorage", at::kFloat}, {"torch.DoubleStorage", at::kDouble}, {"torch.HalfStorage", at::kHalf},
      {"torch.BFloat16Storage", at::kBFloat16}, {"torch.LongStorage", at::kLong}, {"torch.IntStorage", at::kInt},
      {"torch.ShortStorage", at::kShort}, {"torch.CharStorage", at::kChar}, {"torch.ByteStorage", at::kByte},
      {"torch.BoolStorage", at::kBool}};
  auto it = kTypes.find(storage_class);
  if (it == kTypes.end()) throw PickleError("it holds a storage of type " + storage_class + ", which this reader does not know");
  return it->second;
}

std::vector<int64_t> int_tuple(const c10::IValue& v) {
  std::vector<int64_t> out;
  for (const auto& e : v.toTupleRef().elements()) out.push_back(e.toInt());
  return out;
}

// The pickle protocol 2-4 opcodes that torch.save (and LibTorch's pickler) emit for dicts, lists
// and tuples of tensors, str, int, float, bool and None. Anything else is refused by name.
class Unpickler {
 public:
  Unpickler(caffe2::serialize::PyTorchStreamReader& reader, const char* data, size_t size)
      : reader_(reader), begin_(data), p_(data), end_(data + size) {}

  c10::IValue run() {
    for (;;) {
      const auto op = static_cast<unsigned char>(byte());
      switch (op) {
        case 0x80: byte(); break;             // PROTO
        case 0x95: bytes(8); break;           // FRAME (protocol 4): a length hint
        case '.': return pop();               // STOP
        case '(': marks_.push_back(stack_.size()); break;
        case ')': push(c10::ivalue::Tuple::create({})); break;
        case 't': push(c10::ivalue::Tuple::create(pop_mark())); break;
        case 0x85: case 0x86: case 0x87: {    // TUPLE1..3
          const size_t n = op - 0x84;
          std::vector<c10::IValue> items(stack_.end() - static_cast<std::ptrdiff_t>(n), stack_.end());
          stack_.resize(stack_.size() - n);
          push(c10::ivalue::Tuple::create(std::move(items)));
          break;
        }
        case '}': push(new_dict()); break;
        case 'd': { auto items = pop_mark(); push(new_dict()); set_items(items); break; }
        case ']': push(c10::impl::GenericList(c10::AnyType::get())); break;
        case 'l': {
          c10::impl::GenericList list(c10::AnyType::get());
          for (auto& v : pop_mark()) list.push_back(std::move(v));
          push(std::move(list));
          break;
        }
        case 'a': { c10::IValue v = pop(); top().toList().push_back(std::move(v)); break; }
        case 'e': { auto items = pop_mark(); for (auto& v : items) top().toList().push_back(std::move(v)); break; }
        case 's': { c10::IValue v = pop(); c10::IValue k = pop(); set_items({std::move(k), std::move(v)}); break; }
        case 'u': set_items(pop_mark()); break;
        case 'N': push(c10::IValue()); break;
        case 0x88: push(true); break;
        case 0x89: push(false); break;
        case 'K': push(static_cast<int64_t>(static_cast<uint8_t>(byte()))); break;
        case 'M': push(static_cast<int64_t>(little<uint16_t>())); break;
        case 'J': push(static_cast<int64_t>(little<int32_t>())); break;
        case 0x8a: push(long1()); break;
        case 'G': {                           // BINFLOAT: big-endian double
          const char* b = bytes(8);
          uint64_t bits = 0;
          for (int i = 0; i < 8; ++i) bits = (bits << 8) | static_cast<uint8_t>(b[i]);
          double d;
          std::memcpy(&d, &bits, sizeof d);
          push(d);
          break;
        }
        case 'X': { const auto n = little<uint32_t>(); push(std::string(bytes(n), n)); break; }
        case 0x8c: { const auto n = static_cast<uint8_t>(byte()); push(std::string(bytes(n), n)); break; }
        case 0x8d: { const auto n = little<uint64_t>(); push(std::string(bytes(n), n)); break; }
        case 'c': { std::string module = line(); push(std::string(1, kGlobalTag) + module + "." + line()); break; }
        case 0x93: {                          // STACK_GLOBAL
          const std::string name = pop().toStringRef();
          push(std::string(1, kGlobalTag) + pop().toStringRef() + "." + name);
          break;
        }
        case 'q': memo_[static_cast<uint8_t>(byte())] = top(); break;
        case 'r': memo_[little<uint32_t>()] = top(); break;
        case 0x94: memo_[memo_.size()] = top(); break;  // MEMOIZE
        case 'h': push(memo(static_cast<uint8_t>(byte()))); break;
        case 'j': push(memo(little<uint32_t>())); break;
        case 'Q': push(persistent_load(pop())); break;
        case 'R': { c10::IValue args = pop(); c10::IValue fn = pop(); push(reduce(fn, args)); break; }
        case 'b': pop(); break;               // BUILD: an object's state, e.g. a state_dict's _metadata
        case '0': pop(); break;               // POP
        case 0x81:                            // NEWOBJ: an instance of a Python class
          throw PickleError("it holds a Python object (a whole pickled nn.Module? save model.state_dict() instead)");
        default:
          throw PickleError("pickle opcode 0x" + hex(op) + " at byte " + std::to_string(offset() - 1) +
                               ", which this reader does not know");
      }
    }
  }

 private:
  static std::string hex(unsigned v) {
    const char* digits = "0123456789abcdef";
    return std::string{digits[(v >> 4) & 15], digits[v & 15]};
  }
  size_t offset() const { return static_cast<size_t>(p_ - begin_); }
  const char* bytes(uint64_t n) {
    if (static_cast<uint64_t>(end_ - p_) < n) throw PickleError("the pickle ends in the middle of a value");
    const char* at = p_;
    p_ += n;
    return at;
  }
  char byte() { return *bytes(1); }
  template <typename T>
  T little() {
    T v;
    std::memcpy(&v, bytes(sizeof v), sizeof v);  // x86 and ARM Linux are little-endian, as pickle is
    return v;
  }
  int64_t long1() {
    const auto n = static_cast<uint8_t>(byte());
    if (n > 8) throw PickleError("an integer of " + std::to_string(n) + " bytes");
    const char* b = bytes(n);
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; --i) v = (v << 8) | static_cast<uint8_t>(b[i]);
    if (n > 0 && n < 8 && (static_cast<uint8_t>(b[n - 1]) & 0x80)) v |= ~uint64_t{0} << (8 * n);  // sign-extend
    return static_cast<int64_t>(v);
  }
  std::string line() {
    const char* nl = static_cast<const char*>(std::memchr(p_, '\n', static_cast<size_t>(end_ - p_)));
    if (!nl) throw PickleError("the pickle ends in the middle of a name");
    std::string s(p_, nl);
    p_ = nl + 1;
    return s;
  }
  void push(c10::IValue v) { stack_.push_back(std::move(v)); }
  c10::IValue& top() {
    if (stack_.empty()) throw PickleError("the pickle reads from an empty stack");
    return stack_.back();
  }
  c10::IValue pop() {
    c10::IValue v = std::move(top());
    stack_.pop_back();
    return v;
  }
  std::vector<c10::IValue> pop_mark() {
    if (marks_.empty() || marks_.back() > stack_.size()) throw PickleError("the pickle closes a mark it never set");
    std::vector<c10::IValue> items(stack_.begin() + static_cast<std::ptrdiff_t>(marks_.back()), stack_.end());
    stack_.resize(marks_.back());
    marks_.pop_back();
    return items;
  }
  c10::IValue memo(uint64_t key) const {
    auto it = memo_.find(key);
    if (it == memo_.end()) throw PickleError("the pickle refers to memo entry " + std::to_string(key) + " it never stored");
    return it->second;
  }
  static c10::IValue new_dict() { return c10::impl::GenericDict(c10::AnyType::get(), c10::AnyType::get()); }
  void set_items(const std::vector<c10::IValue>& kv) {
    if (!top().isGenericDict()) throw PickleError("the pickle sets items on something that is not a dict");
    auto dict = top().toGenericDict();
    for (size_t i = 0; i + 1 < kv.size(); i += 2) dict.insert_or_assign(kv[i], kv[i + 1]);
  }

  // ('storage', storage class, key, location, numel): the record data/<key> as a 1-D tensor.
  c10::IValue persistent_load(const c10::IValue& id) {
    if (!id.isTuple()) throw PickleError("a persistent id that is not a storage");
    const auto& tuple = id.toTupleRef().elements();
    const std::vector<c10::IValue> e(tuple.begin(), tuple.end());
    if (e.size() < 5) throw PickleError("a persistent id that is not a storage");
    if (!e[0].isString() || e[0].toStringRef() != "storage" || !is_global(e[1])) {
      throw PickleError("a persistent id that is not a storage");
    }
    const std::string key = e[2].toStringRef();
    if (auto it = storages_.find(key); it != storages_.end()) return it->second;
    const at::ScalarType dtype = storage_dtype(global_name(e[1]));
    const int64_t numel = e[4].toInt();
    const std::string record = "data/" + key;
    if (!reader_.hasRecord(record)) throw PickleError("no record " + record + " for a tensor's storage");
    auto [data, size] = reader_.getRecord(record);
    // The element count comes from the file: check it against the record's real size before
    // allocating, so that a damaged or hostile count cannot ask for more memory than the file holds.
    const size_t element_size = c10::elementSize(dtype);
    if (numel < 0 || static_cast<uint64_t>(numel) > size / element_size) {
      throw PickleError("record " + record + " has " + std::to_string(size) + " bytes, its storage claims " +
                        std::to_string(numel) + " elements of " + std::to_string(element_size) + " bytes");
    }
    at::Tensor storage = at::empty({numel}, at::TensorOptions().dtype(dtype));
    const size_t want = static_cast<size_t>(numel) * element_size;
    if (want > 0) std::memcpy(storage.data_ptr(), data.get(), want);
    storages_[key] = storage;
    return storage;
  }

  c10::IValue reduce(const c10::IValue& fn, const c10::IValue& args) {
    if (!is_global(fn)) throw PickleError("the pickle calls something that is not a class or function");
    const std::string name = global_name(fn);
    const auto elements = [&]() {
      if (!args.isTuple()) throw PickleError(name + " called without an argument tuple");
      const auto& e = args.toTupleRef().elements();
      return std::vector<c10::IValue>(e.begin(), e.end());
    };
    if (name == "collections.OrderedDict") return new_dict();
    if (name == "torch._utils._rebuild_tensor_v2") {
      const auto a = elements();
      if (a.size() < 4 || !a[0].isTensor()) throw PickleError("a tensor without its storage");
      const at::Tensor& storage = a[0].toTensor();
      const int64_t offset = a[1].toInt();
      const std::vector<int64_t> size = int_tuple(a[2]), stride = int_tuple(a[3]);
      // The nearest and furthest elements the view reaches must lie inside the storage (sizes,
      // strides and offset come from the file; negative or huge ones must not read elsewhere).
      if (size.size() != stride.size() || offset < 0) throw PickleError("a tensor with a malformed size or stride");
      const int64_t n = storage.numel();
      int64_t first = offset, last = offset;
      bool empty = false;
      for (size_t d = 0; d < size.size(); ++d) {
        if (size[d] < 0 || size[d] > n || stride[d] < -n || stride[d] > n) {
          throw PickleError("a tensor with size " + std::to_string(size[d]) + " or stride " + std::to_string(stride[d]) +
                            " that does not fit its storage of " + std::to_string(n) + " elements");
        }
        if (size[d] == 0) empty = true;
        const int64_t reach = (size[d] - 1) * stride[d];  // |reach| <= n * n < 2^63 for storages that fit in memory
        if (reach < 0) first += reach;
        else last += reach;
      }
      if (!empty && (first < 0 || last >= n)) throw PickleError("a tensor that reaches past the end of its storage");
      return storage.as_strided(size, stride, offset);
    }
    if (name == "torch._utils._rebuild_parameter" || name == "torch._utils._rebuild_parameter_with_state" ||
        name == "torch.jit._pickle.restore_type_tag") {
      const auto a = elements();
      if (a.empty()) throw PickleError(name + " called without arguments");
      return a[0];
    }
    if (name == "torch.serialization._get_layout" || name == "torch._utils._rebuild_sparse_tensor" || name == "torch._utils._rebuild_sparse_csr_tensor") {
      throw PickleError("it holds a sparse tensor; save dense tensors (tensor.to_dense()) with their masks as separate entries");
    }
    throw PickleError("it holds a Python object of class " + name +
                         " (a whole pickled nn.Module? save model.state_dict() instead)");
  }

  caffe2::serialize::PyTorchStreamReader& reader_;
  const char* begin_;
  const char* p_;
  const char* end_;
  std::vector<c10::IValue> stack_;
  std::vector<size_t> marks_;
  std::map<uint64_t, c10::IValue> memo_;
  std::map<std::string, at::Tensor> storages_;
};

std::unique_ptr<caffe2::serialize::PyTorchStreamReader> open_archive(const std::string& path) {
  try {
    return std::make_unique<caffe2::serialize::PyTorchStreamReader>(path);
  } catch (const c10::Error&) {
    throw TorchFileError(path, "a damaged archive, not one that torch.save or gossamer train wrote");
  }
}

}  // namespace

bool is_libtorch_archive(const std::string& path) {
  auto reader = open_archive(path);
  return reader->hasRecord("constants.pkl");  // TorchScript modules have one; torch.save files do not
}

c10::IValue load_torch_file(const std::string& path) {
  auto reader = open_archive(path);
  try {
    if (!reader->hasRecord("data.pkl")) throw PickleError("it has no data.pkl record");
    auto [data, size] = reader->getRecord("data.pkl");
    return Unpickler(*reader, static_cast<const char*>(data.get()), size).run();
  } catch (const PickleError& e) {
    throw TorchFileError(path, std::string("cannot be read as a torch.save file: ") + e.what());
  } catch (const c10::Error&) {
    // A value of an unexpected kind where the format needs another (e.g. a str for a size).
    throw TorchFileError(path, "cannot be read as a torch.save file: it is damaged or holds values of unexpected kinds");
  }
}

NamedTensors tensors_of(const c10::IValue& dict, const std::string& path, const std::string& what) {
  if (!dict.isGenericDict()) throw TorchFileError(path, what + " is a " + std::string(dict.tagKind()) + ", not a dict of tensors");
  NamedTensors out;
  for (const auto& kv : dict.toGenericDict()) {
    if (!kv.key().isString()) throw TorchFileError(path, what + " has a key that is not a str");
    if (!kv.value().isTensor()) {
      throw TorchFileError(path, what + " entry '" + kv.key().toStringRef() + "' is a " + kv.value().tagKind() +
                                     ", not a tensor");
    }
    out.emplace_back(kv.key().toStringRef(), kv.value().toTensor());
  }
  return out;
}

}  // namespace gossamer::train
