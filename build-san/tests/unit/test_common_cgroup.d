build-san/tests/unit/test_common_cgroup.o: \
 tests/unit/test_common_cgroup.c common/kwarden.h common/proto.h
common/kwarden.h:
common/proto.h:
