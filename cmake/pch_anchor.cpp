// Gives each precompiled-header target (cmake/PchKinds.cmake) one translation unit, so CMake
// builds the header once and every library, test and tool target reuses it (REUSE_FROM).
namespace gossamer::detail {
int pch_anchor() { return 0; }
}  // namespace gossamer::detail
