build-san/run/top-model.o: run/top-model.c run/top.h common/proto.h
run/top.h:
common/proto.h:
