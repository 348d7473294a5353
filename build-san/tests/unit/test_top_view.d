build-san/tests/unit/test_top_view.o: tests/unit/test_top_view.c \
 common/kwarden.h common/proto.h tests/unit/../../run/top.h \
 common/proto.h
common/kwarden.h:
common/proto.h:
tests/unit/../../run/top.h:
common/proto.h:
