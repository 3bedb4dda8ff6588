// Gives the gossamer_pch target one translation unit, so CMake builds the shared precompiled
// <torch/torch.h> that every library, test and tool target reuses (REUSE_FROM).
namespace gossamer::detail {
int pch_anchor() { return 0; }
}  // namespace gossamer::detail
