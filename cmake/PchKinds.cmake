# Which precompiled header each translation unit gets.
#
# Measured on the 2-core machine (GCC 12, -O3): loading the 570 MB precompiled <torch/torch.h>
# costs ~6 s per translation unit. That pays off only for units that use LibTorch's C++
# frontend (torch::nn, torch::optim: 28 s -> 19 s). A unit that needs only ATen compiles in
# 2.5-5.5 s with a precompiled <ATen/ATen.h> (270 MB) instead of 6-14 s with the torch one, and
# a unit that uses neither compiles in 0.4 s without any. So every target's sources are sorted
# into three kinds by following their #include lines through the project's own headers:
#   torch: reaches a <torch/...> frontend header (not <torch/csrc/...>);
#   aten:  reaches <ATen/...> or <torch/csrc/...> (<c10/...> alone is light);
#   none:  neither.
# A wrong guess costs only time, never correctness: every unit still includes what it uses.

set(GOSSAMER_INCLUDE_SEARCH_DIRS ${PROJECT_SOURCE_DIR}/include ${PROJECT_SOURCE_DIR}/tests)

function(gossamer_include_kind file out_var)
  string(MAKE_C_IDENTIFIER "${file}" id)
  get_property(known GLOBAL PROPERTY GOSSAMER_KIND_${id})
  if(known)
    set(${out_var} ${known} PARENT_SCOPE)
    return()
  endif()
  set_property(GLOBAL PROPERTY GOSSAMER_KIND_${id} none)  # guards against include cycles
  get_filename_component(dir "${file}" DIRECTORY)
  file(STRINGS "${file}" lines REGEX "^[ \t]*#[ \t]*include")
  set(kind none)
  foreach(line IN LISTS lines)
    set(child_kind none)
    if(line MATCHES "<torch/csrc/" OR line MATCHES "<ATen/")
      set(child_kind aten)
    elseif(line MATCHES "<torch/")
      set(child_kind torch)
    elseif(line MATCHES "[\"<]([^\">]+)[\">]")
      set(name ${CMAKE_MATCH_1})
      foreach(base ${dir} ${GOSSAMER_INCLUDE_SEARCH_DIRS})
        if(EXISTS "${base}/${name}" AND NOT IS_DIRECTORY "${base}/${name}")
          gossamer_include_kind("${base}/${name}" child_kind)
          break()
        endif()
      endforeach()
    endif()
    if(child_kind STREQUAL "torch")
      set(kind torch)
      break()
    elseif(child_kind STREQUAL "aten")
      set(kind aten)
    endif()
  endforeach()
  set_property(GLOBAL PROPERTY GOSSAMER_KIND_${id} ${kind})
  set(${out_var} ${kind} PARENT_SCOPE)
endfunction()

# One anchor target per precompiled header; every other target reuses them (REUSE_FROM).
if(GOSSAMER_TORCH_PCH)
  add_library(gossamer_pch_torch STATIC ${PROJECT_SOURCE_DIR}/cmake/pch_anchor.cpp)
  target_link_libraries(gossamer_pch_torch PUBLIC gossamer_deps)
  target_precompile_headers(gossamer_pch_torch PRIVATE <torch/torch.h>)
  add_library(gossamer_pch_aten STATIC ${PROJECT_SOURCE_DIR}/cmake/pch_anchor.cpp)
  target_link_libraries(gossamer_pch_aten PUBLIC gossamer_deps)
  target_precompile_headers(gossamer_pch_aten PRIVATE <ATen/ATen.h>)
endif()

# gossamer_sources(TARGET SOURCES src... LINKS lib...): compiles `src` for `target` (already
# created, possibly without sources), each with its kind's precompiled header, as one object
# library per kind; `target` and the object libraries link `lib` (PRIVATE for executables).
function(gossamer_sources target)
  cmake_parse_arguments(ARG "" "" "SOURCES;LINKS" ${ARGN})
  get_target_property(type ${target} TYPE)
  set(scope PUBLIC)
  if(type STREQUAL "EXECUTABLE")
    set(scope PRIVATE)
  endif()
  target_link_libraries(${target} ${scope} ${ARG_LINKS})
  foreach(src IN LISTS ARG_SOURCES)
    gossamer_include_kind(${src} kind)
    list(APPEND sources_${kind} ${src})
  endforeach()
  foreach(kind torch aten none)
    if(sources_${kind})
      add_library(${target}_${kind} OBJECT ${sources_${kind}})
      target_link_libraries(${target}_${kind} PUBLIC ${ARG_LINKS})
      get_target_property(includes ${target} INCLUDE_DIRECTORIES)
      if(includes)
        target_include_directories(${target}_${kind} PRIVATE ${includes})
      endif()
      if(GOSSAMER_TORCH_PCH AND NOT kind STREQUAL "none")
        target_precompile_headers(${target}_${kind} REUSE_FROM gossamer_pch_${kind})
      endif()
      # Unity batches: a unit that uses LibTorch spends most of its time loading the precompiled
      # header and instantiating the same templates, so one unit of 12 optimizer files compiles
      # in 13 s where the 12 separate ones took 109 s (measured). Names at file scope (anonymous
      # namespaces included) must therefore be unique within a folder.
      set_target_properties(${target}_${kind} PROPERTIES UNITY_BUILD ${GOSSAMER_UNITY_BUILD}
                                                         UNITY_BUILD_BATCH_SIZE 16)
      if(GOSSAMER_UNITY_BUILD)
        # GCC warns about a class whose member type is in an anonymous namespace when the class is
        # defined in an #included file, which is what a unity unit is; the types stay unit-local.
        target_compile_options(${target}_${kind} PRIVATE -Wno-subobject-linkage)
      endif()
      target_sources(${target} PRIVATE $<TARGET_OBJECTS:${target}_${kind}>)
    endif()
  endforeach()
endfunction()
