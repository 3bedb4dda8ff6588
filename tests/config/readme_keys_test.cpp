// The README's key table names every configuration key (a key a user cannot find is a key they
// cannot use): each "section.key" of a saved config.toml appears in a row of that table, either
// spelled out or as a bare key in a row of its section ("train.epochs / batch_size / seed").
#include <gtest/gtest.h>

#include <fstream>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "gossamer/config/config.h"
#include "test_paths.h"

namespace readme_keys_test {

// The rows of the table under "| section.key | default | meaning |".
std::vector<std::string> key_table_rows() {
  std::ifstream in(std::string(GOSSAMER_SOURCE_DIR) + "/README.md");
  std::vector<std::string> rows;
  std::string line;
  bool inside = false;
  while (std::getline(in, line)) {
    if (line.rfind("| section.key |", 0) == 0) {
      inside = true;
      continue;
    }
    if (inside && line.rfind("|", 0) != 0) break;
    if (inside) rows.push_back(line);
  }
  return rows;
}

TEST(Readme, KeyTableNamesEveryConfigKey) {
  const auto rows = key_table_rows();
  ASSERT_GT(rows.size(), 10u) << "README.md has no key table";
  std::istringstream toml(gossamer::config::to_toml(gossamer::config::Config{}));
  std::string line, section;
  std::vector<std::string> missing;
  while (std::getline(toml, line)) {
    if (line.size() > 2 && line.front() == '[') {
      section = line.substr(1, line.size() - 2);
      continue;
    }
    const auto eq = line.find(" = ");
    if (eq == std::string::npos) continue;
    const std::string key = line.substr(0, eq);
    const std::regex bare("(^|[^a-z_0-9])" + key + "([^a-z_0-9]|$)");
    bool found = false;
    for (const auto& row : rows) {
      const std::string first_cell = row.substr(0, row.find('|', 1));
      if (row.find(section + "." + key) != std::string::npos ||
          (first_cell.find(section + ".") != std::string::npos && std::regex_search(row, bare))) {
        found = true;
        break;
      }
    }
    if (!found) missing.push_back(section + "." + key);
  }
  std::string list;
  for (const auto& m : missing) list += " " + m;
  EXPECT_TRUE(missing.empty()) << "README.md's key table does not name:" << list;
}

// Multi-worker runs write checkpoint-rank<R>.pt: every place that tells a user where checkpoints
// are names that file too, not only one worker's checkpoint.pt.
TEST(Readme, CheckpointNamesIncludeTheMultiWorkerFiles) {
  std::ifstream in(std::string(GOSSAMER_SOURCE_DIR) + "/README.md");
  std::string line;
  int places = 0;
  while (std::getline(in, line)) {
    if (line.find("--resume DIR` continues") == std::string::npos && line.find("- `checkpoint.pt`") == std::string::npos)
      continue;
    ++places;
    EXPECT_NE(line.find("checkpoint-rank<R>.pt"), std::string::npos) << line;
  }
  EXPECT_EQ(places, 2);
}

}  // namespace readme_keys_test
