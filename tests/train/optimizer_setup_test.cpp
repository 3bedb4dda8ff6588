// The optimizer section's algorithm name is checked against optim/'s registry (the one list of
// algorithms): an unknown name is a ConfigError that lists every registered algorithm.
#include <gtest/gtest.h>

#include "gossamer/config/config.h"
#include "gossamer/optim/factory.h"
#include "gossamer/train/optimizer_setup.h"

using namespace gossamer;

TEST(OptimizerSetup, EveryRegisteredAlgorithmIsAcceptedAndAnUnknownOneNamesThemAll) {
  for (const auto& name : optim::algorithm_names()) {
    std::vector<std::string> o{"optimizer.algorithm=" + name};
    if (name == "choco") o.push_back("compress.method=topk");  // choco needs a compressor
    EXPECT_NO_THROW(train::check_optimizer_config(config::parse_config("", "test", o))) << name;
  }
  try {
    train::check_optimizer_config(config::parse_config("", "test", {"optimizer.algorithm=dsgdx"}));
    FAIL() << "an unknown algorithm was accepted";
  } catch (const config::ConfigError& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("optimizer.algorithm = \"dsgdx\""), std::string::npos) << m;
    for (const auto& name : optim::algorithm_names()) EXPECT_NE(m.find(name), std::string::npos) << m;
  }
}
