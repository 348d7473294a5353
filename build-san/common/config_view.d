build-san/common/config_view.o: common/config_view.c common/config_int.h \
 common/kwarden.h common/proto.h
common/config_int.h:
common/kwarden.h:
common/proto.h:
