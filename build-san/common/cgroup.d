build-san/common/cgroup.o: common/cgroup.c common/kwarden.h \
 common/proto.h
common/kwarden.h:
common/proto.h:
