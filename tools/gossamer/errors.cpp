#include "errors.h"

#include <CLI/CLI.hpp>

#include <iostream>
#include <new>

#include "gossamer/config/config.h"
#include "gossamer/data/dataset.h"
#include "gossamer/report/html_report.h"
#include "gossamer/report/run_data.h"
#include "gossamer/train/checkpoint.h"
#include "gossamer/train/one_shot_prune.h"
#include "gossamer/util/error_message.h"

namespace gossamer::cli {

int run_reported(const std::string& command, const std::function<int()>& body) {
  const std::string prefix = "gossamer " + command + ": ";
  // Most specific first: ConfigError, DataError and CheckpointError may derive from the generic ones.
  try {
    return body();
  } catch (const CLI::Error&) {
    throw;  // main prints CLI11's message and the usage
  } catch (const config::ConfigError& e) {
    std::cerr << prefix << e.what() << "\n";
    return kExitUsage;
  } catch (const train::OutputExistsError& e) {
    std::cerr << prefix << e.what() << "; choose another directory with --out DIR, or replace them with --force\n";
    return kExitUsage;
  } catch (const report::NotARunError& e) {  // a RUN_DIR that is not a run's folder
    std::cerr << prefix << e.what() << "\n";
    return kExitUsage;
  } catch (const report::OutputError& e) {  // an -o FILE that cannot be written
    std::cerr << prefix << e.what() << "\n";
    return kExitUsage;
  } catch (const report::RunDataError& e) {  // a run's files that cannot be read
    std::cerr << prefix << e.what() << "\n";
    return kExitBadInput;
  } catch (const report::MissingLibraryError& e) {  // Debian's libjs-chart.js not installed
    std::cerr << prefix << e.what() << "\n";
    return kExitBadInput;
  } catch (const UsageError& e) {
    std::cerr << prefix << e.what() << "\n";
    return kExitUsage;
  } catch (const data::DataError& e) {
    std::cerr << prefix << "data error: " << e.what() << "\n";
    return kExitBadInput;
  } catch (const InputError& e) {
    std::cerr << prefix << e.what() << "\n";
    return kExitBadInput;
  } catch (const train::CheckpointError& e) {
    std::cerr << prefix << e.what() << "\n";
    return kExitNotCheckpoint;
  } catch (const std::invalid_argument& e) {
    std::cerr << prefix << "error: " << e.what() << "\n";
    return kExitUsage;
  } catch (const std::bad_alloc&) {
    std::cerr << prefix << "error: out of memory (std::bad_alloc): the run needs more memory than this machine "
                           "gave it; see the README's Memory section for what a run needs and which keys shrink it\n";
    return kExitUnexpected;
  } catch (const std::exception& e) {
    std::cerr << prefix << "error: " << util::error_message(e) << "\n";
    return kExitUnexpected;
  }
}

}  // namespace gossamer::cli
