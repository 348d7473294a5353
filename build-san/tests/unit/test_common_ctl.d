build-san/tests/unit/test_common_ctl.o: tests/unit/test_common_ctl.c \
 common/kwarden.h common/proto.h
common/kwarden.h:
common/proto.h:
