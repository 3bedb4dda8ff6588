// Shared plumbing for the paper reproductions in bench/repro/ (one binary per NAME.cpp): a tiny
// flag parser, an aligned text table for stdout, CSV and Markdown writers, and progress lines on
// stderr. Header-only on purpose: CMake turns every bench/repro/*.cpp into its own executable, so
// shared code cannot live in a .cpp here. Nothing in it knows about the algorithms.
#pragma once

#include <chrono>
#include <cmath>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <mutex>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace gossamer::repro {

// Flags of the form `--name value` (or `--name=value`) and bare switches `--name`. Unknown flags
// and a missing value fail with a message naming the flag and listing the known ones.
class Flags {
 public:
  // `usage`: printed by --help. `known`: flag name -> (default, help); a default of "" with the
  // help starting with "[switch]" marks a switch.
  Flags(int argc, char** argv, std::string usage, std::map<std::string, std::pair<std::string, std::string>> known)
      : known_(std::move(known)) {
    for (const auto& [k, v] : known_) values_[k] = v.first;
    for (int i = 1; i < argc; ++i) {
      std::string a = argv[i];
      if (a == "--help" || a == "-h") {
        std::cout << usage << "\n\noptions:\n";
        for (const auto& [k, v] : known_) {
          std::cout << "  --" << k << (is_switch(k) ? "" : " VALUE") << "\n      " << v.second
                    << (v.first.empty() ? "" : " (default " + v.first + ")") << "\n";
        }
        std::exit(0);
      }
      if (a.rfind("--", 0) != 0) fail("unexpected argument '" + a + "'");
      a = a.substr(2);
      std::string value;
      bool has_value = false;
      if (const auto eq = a.find('='); eq != std::string::npos) {
        value = a.substr(eq + 1);
        a = a.substr(0, eq);
        has_value = true;
      }
      if (known_.count(a) == 0) fail("unknown option --" + a);
      if (is_switch(a)) {
        values_[a] = has_value ? value : "1";
        continue;
      }
      if (!has_value) {
        if (i + 1 >= argc) fail("option --" + a + " needs a value");
        value = argv[++i];
      }
      values_[a] = value;
    }
  }

  std::string str(const std::string& k) const { return values_.at(k); }
  bool on(const std::string& k) const {
    const std::string& v = values_.at(k);
    return !v.empty() && v != "0" && v != "false";
  }
  double num(const std::string& k) const {
    try {
      size_t used = 0;
      const double d = std::stod(values_.at(k), &used);
      if (used != values_.at(k).size()) throw std::invalid_argument("trailing characters");
      return d;
    } catch (const std::exception&) {
      fail("option --" + k + " wants a number, got '" + values_.at(k) + "'");
    }
  }
  int64_t integer(const std::string& k) const {
    const double d = num(k);
    if (d != std::floor(d)) fail("option --" + k + " wants an integer, got '" + values_.at(k) + "'");
    return static_cast<int64_t>(d);
  }
  // Comma-separated list of integers, e.g. "16,32,64".
  std::vector<int64_t> integers(const std::string& k) const {
    std::vector<int64_t> out;
    for (const auto& item : strings(k)) {
      try {
        out.push_back(std::stoll(item));
      } catch (const std::exception&) {
        fail("option --" + k + " wants integers separated by commas, got '" + values_.at(k) + "'");
      }
    }
    return out;
  }
  std::vector<std::string> strings(const std::string& k) const {
    std::vector<std::string> out;
    std::stringstream ss(values_.at(k));
    std::string item;
    while (std::getline(ss, item, ',')) {
      if (!item.empty()) out.push_back(item);
    }
    return out;
  }

 private:
  bool is_switch(const std::string& k) const { return known_.at(k).second.rfind("[switch]", 0) == 0; }
  [[noreturn]] void fail(const std::string& msg) const {
    std::string names;
    for (const auto& [k, v] : known_) names += " --" + k;
    throw std::invalid_argument(msg + " (known options:" + names + "; --help explains them)");
  }

  std::map<std::string, std::pair<std::string, std::string>> known_;
  std::map<std::string, std::string> values_;
};

// A table of strings with named columns: printed aligned to stdout, written as CSV or Markdown.
class Table {
 public:
  explicit Table(std::vector<std::string> columns) : columns_(std::move(columns)) {}

  void add(std::vector<std::string> row) {
    if (row.size() != columns_.size()) {
      throw std::logic_error("Table::add: " + std::to_string(row.size()) + " cells for " +
                             std::to_string(columns_.size()) + " columns");
    }
    rows_.push_back(std::move(row));
  }
  const std::vector<std::vector<std::string>>& rows() const { return rows_; }
  const std::vector<std::string>& columns() const { return columns_; }

  void print(std::ostream& out) const {
    std::vector<size_t> width(columns_.size());
    for (size_t c = 0; c < columns_.size(); ++c) {
      width[c] = columns_[c].size();
      for (const auto& r : rows_) width[c] = std::max(width[c], r[c].size());
    }
    auto line = [&](const std::vector<std::string>& cells) {
      for (size_t c = 0; c < cells.size(); ++c) {
        out << (c ? "  " : "") << cells[c] << std::string(width[c] - cells[c].size(), ' ');
      }
      out << "\n";
    };
    line(columns_);
    std::vector<std::string> rule;
    for (size_t w : width) rule.push_back(std::string(w, '-'));
    line(rule);
    for (const auto& r : rows_) line(r);
    out.flush();
  }

  // Creates the parent folder; quotes cells that need it (RFC 4180).
  void write_csv(const std::string& path) const {
    std::ofstream f = open(path);
    auto cell = [](const std::string& s) {
      if (s.find_first_of(",\"\n") == std::string::npos) return s;
      std::string q = "\"";
      for (char ch : s) q += ch == '"' ? std::string("\"\"") : std::string(1, ch);
      return q + "\"";
    };
    auto line = [&](const std::vector<std::string>& cells) {
      for (size_t c = 0; c < cells.size(); ++c) f << (c ? "," : "") << cell(cells[c]);
      f << "\n";
    };
    line(columns_);
    for (const auto& r : rows_) line(r);
  }

  void write_markdown(const std::string& path, const std::string& preamble = "") const {
    std::ofstream f = open(path);
    if (!preamble.empty()) f << preamble << "\n\n";
    auto line = [&](const std::vector<std::string>& cells) {
      f << "|";
      for (const auto& c : cells) {
        std::string esc;
        for (char ch : c) esc += ch == '|' ? std::string("\\|") : std::string(1, ch);
        f << " " << esc << " |";
      }
      f << "\n";
    };
    line(columns_);
    f << "|";
    for (size_t c = 0; c < columns_.size(); ++c) f << "---|";
    f << "\n";
    for (const auto& r : rows_) line(r);
  }

 private:
  static std::ofstream open(const std::string& path) {
    const std::filesystem::path p(path);
    if (p.has_parent_path()) std::filesystem::create_directories(p.parent_path());
    std::ofstream f(path);
    if (!f) throw std::runtime_error("cannot write '" + path + "' (check the folder exists and is writable)");
    return f;
  }

  std::vector<std::string> columns_;
  std::vector<std::vector<std::string>> rows_;
};

inline std::string sci(double v, int digits = 2) {
  if (std::isnan(v)) return "nan";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*e", digits, v);
  return buf;
}
inline std::string fixed(double v, int digits = 3) {
  if (std::isnan(v)) return "nan";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", digits, v);
  return buf;
}

// Seconds since construction.
class Stopwatch {
 public:
  double seconds() const {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0_).count();
  }

 private:
  std::chrono::steady_clock::time_point t0_ = std::chrono::steady_clock::now();
};

// One progress line on stderr, prefixed with the elapsed time of the whole command; thread safe.
inline void progress(const Stopwatch& clock, const std::string& what) {
  static std::mutex mu;
  std::lock_guard<std::mutex> lock(mu);
  std::fprintf(stderr, "[%7.1fs] %s\n", clock.seconds(), what.c_str());
  std::fflush(stderr);
}

// The programs' main(): runs `body` and turns an exception into "NAME: message" and status 1.
template <class Body>
int run_main(const char* name, int argc, char** argv, Body body) {
  try {
    return body(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s: %s\n", name, e.what());
    return 1;
  }
}

}  // namespace gossamer::repro
