# file: src/h2.c
# what: HTTP/2 flow control off: nghttp2 reopens the windows by itself, whatever the reader took
s/nghttp2_option_set_no_auto_window_update(opt, 1);/nghttp2_option_set_no_auto_window_update(opt, 0); \/* MUTATION *\//
