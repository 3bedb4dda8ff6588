#include "gossamer/robust/attack.h"

#include <ATen/ATen.h>

#include <ATen/CPUGeneratorImpl.h>

#include <cmath>
#include <limits>
#include <stdexcept>

namespace gossamer::robust {
namespace {

struct Named {
  AttackKind kind;
  const char* name;
};
const Named kAttacks[] = {
    {AttackKind::None, "none"},         {AttackKind::SignFlip, "sign-flip"}, {AttackKind::Scaled, "scaled"},
    {AttackKind::Gaussian, "gaussian"}, {AttackKind::LabelFlip, "label-flip"}, {AttackKind::Alie, "alie"},
    {AttackKind::Ipm, "ipm"},           {AttackKind::Dissensus, "dissensus"}, {AttackKind::Silent, "silent"},
    {AttackKind::WrongSize, "wrong-size"}, {AttackKind::Nan, "nan"},     {AttackKind::Inf, "inf"},
    {AttackKind::Garbage, "garbage"},
};

// Inverse of the standard normal CDF by bisection on erfc (plenty for a constant computed once).
double normal_quantile(double p) {
  double lo = -10, hi = 10;
  for (int i = 0; i < 200; ++i) {
    const double mid = 0.5 * (lo + hi);
    const double cdf = 0.5 * std::erfc(-mid / std::sqrt(2.0));
    (cdf < p ? lo : hi) = mid;
  }
  return 0.5 * (lo + hi);
}

void need_honest(const AttackView& v, const char* what) {
  if (!v.honest.defined() || v.honest.dim() != 2 || v.honest.size(0) < 1) {
    throw std::invalid_argument(std::string("attack ") + what + ": needs the honest messages of the call");
  }
}

}  // namespace

const std::vector<std::string>& attack_names() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> n;
    for (const auto& a : kAttacks) n.emplace_back(a.name);
    return n;
  }();
  return names;
}

AttackKind parse_attack(const std::string& name) {
  for (const auto& a : kAttacks) {
    if (name == a.name) return a.kind;
  }
  std::string list;
  for (const auto& n : attack_names()) list += (list.empty() ? "" : ", ") + n;
  throw std::invalid_argument("attack: kind \"" + name + "\" is not one of " + list);
}

std::string attack_name(AttackKind kind) {
  for (const auto& a : kAttacks) {
    if (a.kind == kind) return a.name;
  }
  return "?";
}

bool needs_honest_messages(AttackKind k) {
  return k == AttackKind::SignFlip || k == AttackKind::Alie || k == AttackKind::Ipm || k == AttackKind::Dissensus;
}

bool forges_message(AttackKind k) {
  return k != AttackKind::None && k != AttackKind::LabelFlip && k != AttackKind::Silent && k != AttackKind::Garbage;
}

void AttackOptions::validate() const {
  auto bad = [](const std::string& f, double v, const std::string& allowed) {
    throw std::invalid_argument("attack: " + f + " = " + std::to_string(v) + " is not allowed: " + allowed);
  };
  if (!std::isfinite(scale)) bad("scale", scale, "must be finite");
  if (!(sigma > 0) || !std::isfinite(sigma)) bad("sigma", sigma, "must be > 0 and finite");
  if (z < 0 || !std::isfinite(z)) bad("z", z, "must be >= 0 (0 = from the numbers of workers)");
  if (epsilon < 0 || !std::isfinite(epsilon)) bad("epsilon", epsilon, "must be >= 0 (0 = the attack's default)");
  if (kind != AttackKind::None && (byzantine < 1 || byzantine >= world)) {
    bad("byzantine", static_cast<double>(byzantine), "an attack needs 1 .. workers - 1 attackers");
  }
}

double alie_z(int64_t n, int64_t f) {
  const double s = std::floor(static_cast<double>(n) / 2.0 + 1.0) - static_cast<double>(f);
  const double p = (static_cast<double>(n - f) - s) / static_cast<double>(n - f);
  if (!(p > 0.5) || !(p < 1.0)) return 0.0;
  return normal_quantile(p);
}

at::Tensor forge(const AttackOptions& o, const AttackView& v) {
  if (!v.own.defined()) throw std::invalid_argument("attack: the view has no own message");
  const at::Tensor own = v.own.reshape({-1});
  switch (o.kind) {
    case AttackKind::SignFlip:
      need_honest(v, "sign-flip");
      return v.honest.mean(0).neg();
    case AttackKind::Scaled:
      return own * o.scale;
    case AttackKind::Gaussian: {
      at::Generator g = at::make_generator<at::CPUGeneratorImpl>(o.seed * 1000003ull + static_cast<uint64_t>(v.call) * 7919ull +
                                                                 static_cast<uint64_t>(v.rank));
      return at::normal(0.0, o.sigma, {own.numel()}, g);
    }
    case AttackKind::Alie: {
      need_honest(v, "alie");
      const double z = o.z > 0 ? o.z : alie_z(o.world, o.byzantine);
      const at::Tensor mu = v.honest.mean(0);
      if (v.honest.size(0) < 2) return mu;
      return mu - v.honest.std(0) * z;
    }
    case AttackKind::Ipm:
      need_honest(v, "ipm");
      return v.honest.mean(0) * -(o.epsilon > 0 ? o.epsilon : 0.1);
    case AttackKind::Dissensus: {
      need_honest(v, "dissensus");
      if (!(v.byzantine_weight > 0) || static_cast<int64_t>(v.honest_weights.size()) != v.honest.size(0) - 1) {
        throw std::invalid_argument("attack dissensus: needs the target's mixing weights (a gossip step)");
      }
      const at::Tensor target = v.honest[0];
      at::Tensor pull = at::zeros_like(target);
      for (int64_t k = 1; k < v.honest.size(0); ++k) {
        pull.add_(v.honest[k] - target, v.honest_weights[static_cast<size_t>(k - 1)]);
      }
      return target - pull * ((o.epsilon > 0 ? o.epsilon : 1.5) / v.byzantine_weight);
    }
    case AttackKind::WrongSize:
      return own.narrow(0, 0, own.numel() / 2).clone();
    case AttackKind::Nan:
      return at::full({own.numel()}, std::numeric_limits<float>::quiet_NaN(), own.options());
    case AttackKind::Inf:
      return at::full({own.numel()}, std::numeric_limits<float>::infinity(), own.options());
    default:
      throw std::invalid_argument("attack " + attack_name(o.kind) + ": builds no message");
  }
}

}  // namespace gossamer::robust
