build-san/common/config_store.o: common/config_store.c \
 common/config_int.h common/kwarden.h common/proto.h
common/config_int.h:
common/kwarden.h:
common/proto.h:
