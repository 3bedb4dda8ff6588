#include "gossamer/compress/packet.h"

#include <zlib.h>

#include <cstring>

namespace gossamer::compress {

namespace {

constexpr char kMagic[4] = {'G', 'S', 'M', 'C'};

uint32_t crc_of(const uint8_t* data, size_t size) {
  uLong crc = crc32(0L, Z_NULL, 0);
  // zlib takes uInt lengths: feed large payloads in pieces.
  while (size > 0) {
    const uInt piece = static_cast<uInt>(std::min<size_t>(size, 1u << 30));
    crc = crc32(crc, data, piece);
    data += piece;
    size -= piece;
  }
  return static_cast<uint32_t>(crc);
}

template <typename T>
void put(comm::Bytes& b, size_t at, T v) {
  std::memcpy(b.data() + at, &v, sizeof v);
}
template <typename T>
T get(const comm::Bytes& b, size_t at) {
  T v;
  std::memcpy(&v, b.data() + at, sizeof v);
  return v;
}

}  // namespace

void start_packet(comm::Bytes& b, uint8_t format, int64_t numel, size_t payload_bytes) {
  if (payload_bytes > UINT32_MAX) {
    throw std::invalid_argument("compressed packet: a payload of " + std::to_string(payload_bytes) +
                                " bytes exceeds the format's 4 GiB limit; compress smaller tensors");
  }
  b.resize(kPacketHeaderBytes + payload_bytes);
  std::memset(b.data(), 0, kPacketHeaderBytes);
  std::memcpy(b.data(), kMagic, 4);
  b[4] = kPacketVersion;
  b[5] = format;
  put<int64_t>(b, 8, numel);
  put<uint32_t>(b, 16, static_cast<uint32_t>(payload_bytes));
}

void seal_packet(comm::Bytes& packet) {
  put<uint32_t>(packet, 20, crc_of(packet.data() + kPacketHeaderBytes, packet.size() - kPacketHeaderBytes));
}

Payload open_packet(const comm::Bytes& packet, uint8_t format, int64_t numel, int sender,
                    const std::string& compressor) {
  const std::string who = compressor + " packet from rank " + std::to_string(sender);
  if (packet.size() < kPacketHeaderBytes) {
    throw PacketError(who + " is truncated: " + std::to_string(packet.size()) + " bytes, shorter than the " +
                      std::to_string(kPacketHeaderBytes) + "-byte header");
  }
  if (std::memcmp(packet.data(), kMagic, 4) != 0) throw PacketError(who + " is not a compressed packet (bad magic)");
  if (packet[4] != kPacketVersion) {
    throw PacketError(who + " has format version " + std::to_string(packet[4]) + ", this build reads " +
                      std::to_string(kPacketVersion) + " (do all workers run the same build?)");
  }
  if (packet[5] != format) {
    throw PacketError(who + " was written by compressor format " + std::to_string(packet[5]) + ", expected " +
                      std::to_string(format) + " (do all workers use the same [compress] settings?)");
  }
  const int64_t n = get<int64_t>(packet, 8);
  if (n != numel) {
    throw PacketError(who + " encodes " + std::to_string(n) + " elements, expected " + std::to_string(numel));
  }
  const uint32_t size = get<uint32_t>(packet, 16);
  if (packet.size() != kPacketHeaderBytes + size) {
    throw PacketError(who + " is truncated or padded: its header announces " + std::to_string(size) +
                      " payload bytes, it carries " + std::to_string(packet.size() - kPacketHeaderBytes));
  }
  if (get<uint32_t>(packet, 20) != crc_of(packet.data() + kPacketHeaderBytes, size)) {
    throw PacketError(who + " fails its checksum (corrupted in transit)");
  }
  return Payload{packet.data() + kPacketHeaderBytes, size};
}

}  // namespace gossamer::compress
