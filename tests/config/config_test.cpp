#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "gossamer/config/config.h"
#include "test_paths.h"

using gossamer::config::Config;
using gossamer::config::ConfigError;
using gossamer::config::parse_config;
using ::testing::HasSubstr;

namespace {

std::string error_of(const std::string& text, const std::vector<std::string>& overrides = {}) {
  try {
    parse_config(text, "test.toml", overrides);
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "no error";
}

}  // namespace

TEST(Config, DefaultsWhenEmpty) {
  Config c = parse_config("", "empty");
  EXPECT_EQ(c.model.name, "lenet5");
  EXPECT_EQ(c.train.batch_size, 64);
  EXPECT_DOUBLE_EQ(c.optimizer.lr, 0.05);
  EXPECT_EQ(c.cluster.workers, 1);
}

TEST(Config, ReadsTypedValues) {
  Config c = parse_config(R"(
[model]
name = "mlp"
hidden = [64, 32]
[optimizer]
name = "adamw"
lr = 1e-3
nesterov = false
[train]
epochs = 3
)", "t");
  EXPECT_EQ(c.model.name, "mlp");
  EXPECT_EQ(c.model.hidden, (std::vector<int64_t>{64, 32}));
  EXPECT_EQ(c.optimizer.name, "adamw");
  EXPECT_DOUBLE_EQ(c.optimizer.lr, 1e-3);
  EXPECT_EQ(c.train.epochs, 3);
}

TEST(Config, IntegerAcceptedWhereANumberIsExpected) {
  EXPECT_DOUBLE_EQ(parse_config("[optimizer]\nlr = 1\n", "t").optimizer.lr, 1.0);
}

TEST(Config, UnknownKeyNamesKeyLineAndKnownKeys) {
  const std::string msg = error_of("[optimizer]\nlrr = 0.1\n");
  EXPECT_THAT(msg, HasSubstr("unknown key 'optimizer.lrr'"));
  EXPECT_THAT(msg, HasSubstr("test.toml:2"));
  EXPECT_THAT(msg, HasSubstr("known keys in [optimizer]: algorithm, period, group_size,"));
}

TEST(Config, UnknownSection) {
  EXPECT_THAT(error_of("[optimiser]\nlr = 0.1\n"), HasSubstr("unknown section 'optimiser'"));
}

TEST(Config, WrongTypeNamesKeyValueAndExpectedType) {
  const std::string msg = error_of("[optimizer]\nlr = \"fast\"\n");
  EXPECT_THAT(msg, HasSubstr("optimizer.lr = \"fast\""));
  EXPECT_THAT(msg, HasSubstr("wrong type: expected a number"));
  EXPECT_THAT(error_of("[train]\nepochs = 2.5\n"), HasSubstr("train.epochs = 2.5 (test.toml:2) has the wrong type: expected an integer"));
  EXPECT_THAT(error_of("[optimizer]\nnesterov = 1\n"), HasSubstr("expected true or false"));
}

TEST(Config, NegativeLearningRateIsOutOfRange) {
  const std::string msg = error_of("[optimizer]\nlr = -0.1\n");
  EXPECT_THAT(msg, HasSubstr("optimizer.lr = -0.1"));
  EXPECT_THAT(msg, HasSubstr("is not allowed: must be > 0"));
}

TEST(Config, ZeroBatchSizeAndBadChoice) {
  EXPECT_THAT(error_of("[train]\nbatch_size = 0\n"), HasSubstr("train.batch_size = 0 (test.toml:2) is not allowed: must be in [1,"));
  EXPECT_THAT(error_of("[model]\nname = \"vgg\"\n"), HasSubstr("must be one of: mlp, lenet5, resnet20"));
  EXPECT_THAT(error_of("[optimizer]\nform = \"both\"\n"), HasSubstr("must be one of: cta, atc"));
  EXPECT_THAT(error_of("[optimizer]\naccumulation = 0\n"), HasSubstr("optimizer.accumulation = 0 (test.toml:2) is not allowed"));
}

TEST(Config, OverridesReplaceFileValuesAndAreValidated) {
  Config c = parse_config("[optimizer]\nlr = 0.1\n", "t", {"optimizer.lr=0.2", "optimizer.name=adamw", "model.hidden=[8]"});
  EXPECT_DOUBLE_EQ(c.optimizer.lr, 0.2);
  EXPECT_EQ(c.optimizer.name, "adamw");
  EXPECT_EQ(c.model.hidden, (std::vector<int64_t>{8}));
  EXPECT_THAT(error_of("", {"optimizer.lr=-1"}), HasSubstr("optimizer.lr = -1 is not allowed: must be > 0"));
  EXPECT_THAT(error_of("", {"optimizer.momentumm=0.5"}), HasSubstr("unknown key 'optimizer.momentumm'"));
  EXPECT_THAT(error_of("", {"lr=0.5"}), HasSubstr("must look like section.key=value"));
}

TEST(Config, SyntaxErrorNamesFileAndLine) {
  EXPECT_THAT(error_of("[train]\nepochs = = 3\n"), HasSubstr("test.toml:2"));
}

TEST(Config, RoundTripThroughToml) {
  Config c = parse_config("[optimizer]\nlr = 0.3\n[model]\nname = \"mlp\"\n", "t");
  Config d = parse_config(gossamer::config::to_toml(c), "roundtrip");
  EXPECT_DOUBLE_EQ(d.optimizer.lr, 0.3);
  EXPECT_EQ(d.model.name, "mlp");
  EXPECT_EQ(d.model.hidden, c.model.hidden);
}

TEST(Config, MissingFile) {
  try {
    gossamer::config::load_config("/nonexistent/run.toml");
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_THAT(e.what(), HasSubstr("cannot read '/nonexistent/run.toml'"));
  }
}

TEST(Config, ExampleConfigsParse) {
  for (const auto& entry : std::filesystem::directory_iterator(std::string(GOSSAMER_SOURCE_DIR) + "/examples")) {
    if (entry.path().extension() != ".toml") continue;
    EXPECT_NO_THROW(gossamer::config::load_config(entry.path().string())) << entry.path();
  }
}

TEST(Config, RobustAndAttackAreReadAndCheckedTogether) {
  const Config c = parse_config("[cluster]\nworkers = 10\n[robust]\naggregator = \"krum\"\nf = 3\n[attack]\nkind = \"alie\"\n"
                                "ranks = [7, 8, 9]\n",
                                "t");
  EXPECT_EQ(c.robust.aggregator, "krum");
  EXPECT_EQ(c.attack.ranks, (std::vector<int64_t>{7, 8, 9}));
  EXPECT_THAT(error_of("[robust]\naggregator = \"krumm\"\n"), HasSubstr("robust.aggregator"));
  EXPECT_THAT(error_of("[attack]\nkind = \"sign-flip\"\n", {"cluster.workers=4"}), HasSubstr("needs attack.ranks"));
  EXPECT_THAT(error_of("[attack]\nranks = [1]\n", {"cluster.workers=4"}), HasSubstr("attack.kind = \"none\""));
  EXPECT_THAT(error_of("[attack]\nkind = \"ipm\"\nranks = [4]\n", {"cluster.workers=4"}), HasSubstr("ranks 0..3"));
  EXPECT_THAT(error_of("[attack]\nkind = \"ipm\"\nranks = [1, 1]\n", {"cluster.workers=4"}), HasSubstr("twice"));
  EXPECT_THAT(error_of("[attack]\nkind = \"ipm\"\nranks = [0, 1]\n", {"cluster.workers=2"}), HasSubstr("honest"));
  EXPECT_THAT(error_of("[attack]\nkind = \"dissensus\"\nranks = [1]\n", {"cluster.workers=4"}), HasSubstr("gossip"));
  // Krum with f = 3 needs 9 inputs.
  EXPECT_THAT(error_of("[robust]\naggregator = \"krum\"\nf = 3\n", {"cluster.workers=8"}), HasSubstr("at least 9"));
  EXPECT_THAT(error_of("[robust]\naggregator = \"clipped-gossip\"\n", {"cluster.workers=4"}), HasSubstr("gossip algorithm"));
  EXPECT_THAT(error_of("[robust]\naggregator = \"safeguard\"\n", {"cluster.workers=4", "optimizer.algorithm=dsgd"}),
              HasSubstr("averages over all workers"));
  EXPECT_THAT(error_of("[robust]\naggregator = \"cc\"\nworker_momentum = 0.9\n",
                       {"cluster.workers=4", "optimizer.momentum=0.9"}),
              HasSubstr("applied twice"));
  EXPECT_THAT(error_of("[robust]\naggregator = \"median\"\n[compress]\nmethod = \"fp16\"\n", {"cluster.workers=4"}),
              HasSubstr("uncompressed"));
  EXPECT_THAT(error_of("[robust]\naggregator = \"median\"\n", {"cluster.workers=1"}), HasSubstr("workers >= 2"));
  EXPECT_THAT(error_of("[robust]\nf = -1\n"), HasSubstr("robust.f"));
}
