build-san/common/daemon.o: common/daemon.c common/kwarden.h \
 common/proto.h
common/kwarden.h:
common/proto.h:
