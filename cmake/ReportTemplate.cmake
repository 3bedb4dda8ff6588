# The page template of `gossamer report` (src/report/assets/report.html.in) becomes a C++ string
# in a generated header, so that bin/gossamer writes reports without the source tree nearby or an
# installed share/ folder. The template is read at configure time; editing it re-runs CMake.
set(GOSSAMER_REPORT_TEMPLATE ${PROJECT_SOURCE_DIR}/src/report/assets/report.html.in)
set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS ${GOSSAMER_REPORT_TEMPLATE})
file(READ ${GOSSAMER_REPORT_TEMPLATE} GOSSAMER_REPORT_TEMPLATE_TEXT)
string(FIND "${GOSSAMER_REPORT_TEMPLATE_TEXT}" ")GOSSAMER_HTML\"" delimiter_at)
if(NOT delimiter_at EQUAL -1)
  message(FATAL_ERROR "${GOSSAMER_REPORT_TEMPLATE} contains the raw-string delimiter )GOSSAMER_HTML\"")
endif()
# @ONLY: only @GOSSAMER_REPORT_TEMPLATE_TEXT@ is replaced; the page's own ${...} stay as they are.
configure_file(${PROJECT_SOURCE_DIR}/cmake/report_template.h.in
               ${PROJECT_BINARY_DIR}/generated/gossamer/report/report_template.h @ONLY)
foreach(kind torch aten none)
  if(TARGET gossamer_report_${kind})
    target_include_directories(gossamer_report_${kind} PRIVATE ${PROJECT_BINARY_DIR}/generated)
  endif()
endforeach()
