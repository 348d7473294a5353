build-san/common/config_cli.o: common/config_cli.c common/config_int.h \
 common/kwarden.h common/proto.h
common/config_int.h:
common/kwarden.h:
common/proto.h:
