build-san/common/config_schema.o: common/config_schema.c \
 common/config_int.h common/kwarden.h common/proto.h
common/config_int.h:
common/kwarden.h:
common/proto.h:
