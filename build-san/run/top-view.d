build-san/run/top-view.o: run/top-view.c run/top.h common/proto.h
run/top.h:
common/proto.h:
