#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <torch/torch.h>

#include "gossamer/models/model.h"

using namespace gossamer::models;

TEST(Models, EveryRegisteredModelMapsImagesToLogits) {
  for (const auto& name : model_names()) {
    ModelSpec s;
    s.name = name;
    s.width = 4;  // small ResNet keeps the test fast
    auto m = make_model(s);
    at::Tensor y = m->forward(torch::randn({3, 1, 28, 28}));
    EXPECT_EQ(y.sizes(), (std::vector<int64_t>{3, 10})) << name;
  }
}

TEST(Models, LeNet5HasTheClassicParameterCount) {
  ModelSpec s;
  s.name = "lenet5";
  // conv1 6*1*25+6, conv2 16*6*25+16, fc 400*120+120, 120*84+84, 84*10+10
  EXPECT_EQ(count_parameters(*make_model(s)), 156 + 2416 + 48120 + 10164 + 850);
}

TEST(Models, ResNet20HasNineteenConvsPlusTheFc) {
  ModelSpec s;
  s.name = "resnet20";
  auto m = make_model(s);
  int convs = 0;
  for (const auto& p : m->named_parameters()) {
    if (p.value().dim() == 4 && p.value().size(2) == 3) ++convs;
  }
  EXPECT_EQ(convs, 19);  // stem + 3 stages x 3 blocks x 2
}

TEST(Models, UnknownNameListsTheKnownOnes) {
  ModelSpec s;
  s.name = "vgg16";
  try {
    make_model(s);
    FAIL();
  } catch (const std::invalid_argument& e) {
    EXPECT_THAT(e.what(), ::testing::HasSubstr("unknown model 'vgg16': choose one of mlp, lenet5, resnet20, vit, ceit"));
  }
}
