// source_address_for: the address a worker advertises to Gloo peers when MASTER_ADDR is another
// machine and GLOO_SOCKET_IFNAME is not set (tests/tools/netns_cluster_test.cpp runs it across
// network namespaces, where the host name resolves to loopback and only this choice works).
#include <gtest/gtest.h>

#include "gossamer/comm/gloo_communicator.h"

namespace source_address_test {

using gossamer::comm::source_address_for;

TEST(SourceAddress, TowardsLoopbackIsLoopback) {
  EXPECT_EQ(source_address_for("127.0.0.1", 29500), "127.0.0.1");
  EXPECT_EQ(source_address_for("127.0.0.1"), "127.0.0.1");  // no port: any will do, nothing is sent
}

TEST(SourceAddress, UnresolvableOrEmptyGivesNothing) {
  EXPECT_EQ(source_address_for(""), "");
  EXPECT_EQ(source_address_for("no-such-host.invalid", 29500), "");
}

}  // namespace source_address_test
