// The wire format of a compressed message: a fixed 24-byte header, then the compressor's payload.
//
//   offset  size  field
//   0       4     magic "GSMC"
//   4       1     version (1)
//   5       1     format: which compressor wrote it (Compressor::format())
//   6       2     reserved, 0
//   8       8     element count of the tensor it encodes (int64, little endian)
//   16      4     payload bytes (uint32)
//   20      4     CRC-32 (zlib) of the payload
//
// A packet that is truncated, has another magic, version, format or element count than the
// receiver expects, or whose payload does not match its checksum is rejected with PacketError
// naming the sender; it is never decoded.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>

#include "gossamer/comm/communicator.h"

namespace gossamer::compress {

constexpr size_t kPacketHeaderBytes = 24;
constexpr uint8_t kPacketVersion = 1;

class PacketError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Makes `packet` (reusing its storage) a header for `payload_bytes` of payload; write the payload
// at data() + kPacketHeaderBytes (every byte: old contents are not cleared), then seal_packet.
void start_packet(comm::Bytes& packet, uint8_t format, int64_t numel, size_t payload_bytes);
// Fills in the checksum of the payload written since new_packet.
void seal_packet(comm::Bytes& packet);

// The payload of `packet` after checking everything above; `sender` and `compressor` only name
// the packet in the error.
struct Payload {
  const uint8_t* data = nullptr;
  size_t size = 0;
};
Payload open_packet(const comm::Bytes& packet, uint8_t format, int64_t numel, int sender,
                    const std::string& compressor);

}  // namespace gossamer::compress
