// Attacks: what a Byzantine worker sends instead of its true message (docs/robust.md).
//
// The attacks that need the honest workers' messages (sign flip, ALIE, IPM, dissensus) are
// omniscient, as in ByzFL's and the centered-clipping paper's simulations: the caller gives them
// the honest messages the target combines (optim/robust_mixing.h gets them through an oracle
// round whose bytes are not counted as the algorithm's). The label flip is not a message attack:
// the trainer flips the attacker's labels (y -> classes - 1 - y) and its true message is sent.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <string>
#include <vector>

namespace gossamer::robust {

enum class AttackKind {
  None,
  SignFlip,   // -(mean of the honest messages)
  Scaled,     // scale x its own true message
  Gaussian,   // N(0, sigma^2) in every coordinate
  LabelFlip,  // trained on flipped labels; sends its true message
  Alie,       // "A little is enough": mu - z sigma per coordinate over the honest messages
  Ipm,        // inner-product manipulation: -epsilon x (mean of the honest messages)
  Dissensus,  // gossip only: x_i - epsilon sum_k w_ik (x_k - x_i) / (Byzantine weight of i), per target i
  Silent,     // sends empty packets
  WrongSize,  // a valid packet of half the values
  Nan,        // a valid packet of NaN
  Inf,        // a valid packet of +Inf
  Garbage,    // random bytes where the payload belongs (the checksum fails)
};

// "none", "sign-flip", ...; throws std::invalid_argument listing the kinds.
AttackKind parse_attack(const std::string& name);
std::string attack_name(AttackKind kind);
const std::vector<std::string>& attack_names();

// Whether the attack needs the honest messages of the call (the oracle round).
bool needs_honest_messages(AttackKind kind);
// Whether the attacker's message is built by forge() (all message attacks but silent and garbage).
bool forges_message(AttackKind kind);

struct AttackOptions {
  AttackKind kind = AttackKind::None;
  double scale = 100;  // scaled
  double sigma = 1;    // gaussian
  double z = 0;        // alie: 0 = from the numbers of workers (alie_z)
  double epsilon = 0;  // ipm (0 = 0.1), dissensus (0 = 1.5)
  uint64_t seed = 1;   // gaussian and garbage draws, from (seed, call, rank)
  int64_t world = 0;      // workers in the run
  int64_t byzantine = 0;  // attackers in the run
  // Throws std::invalid_argument naming the field, the value and what is allowed.
  void validate() const;
};

// ALIE's z for n workers of which f attack (Baruch et al. 2019): s = floor(n/2 + 1) - f supporters
// needed, z = Phi^-1((n - f - s) / (n - f)); 0 when that fraction is not in (1/2, 1) (the attack
// then sends the honest mean).
double alie_z(int64_t n, int64_t f);

// What the attacker knows when it builds the message for one destination.
struct AttackView {
  at::Tensor own;     // [d] its true message
  at::Tensor honest;  // [h, d] honest messages (gossip: the target's own first, then its honest in-neighbours)
  // Dissensus only: the target's model (= honest[0]), the target's mixing weights of the honest
  // rows after the first, and the total weight the target gives Byzantine neighbours.
  std::vector<double> honest_weights;
  double byzantine_weight = 0;
  int64_t call = 0;
  int rank = 0;
};

// The forged message [d'] (d' = d except for wrong-size). Throws std::invalid_argument when the view
// lacks what the attack needs.
at::Tensor forge(const AttackOptions& options, const AttackView& view);

}  // namespace gossamer::robust
