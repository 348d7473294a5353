build-san/common/config_file.o: common/config_file.c common/config_int.h \
 common/kwarden.h common/proto.h
common/config_int.h:
common/kwarden.h:
common/proto.h:
