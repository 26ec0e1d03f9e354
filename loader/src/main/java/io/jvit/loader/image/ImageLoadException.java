package io.jvit.loader.image;

import java.io.IOException;

/**
 * An image that cannot be loaded: unreadable, empty, truncated, not an image format jvit reads,
 * or over the pixel limit. The message is one line that starts with the file name.
 */
public class ImageLoadException extends IOException {
    public ImageLoadException(String message) {
        super(oneLine(message));
    }

    public ImageLoadException(String message, Throwable cause) {
        super(oneLine(message), cause);
    }

    static String oneLine(String s) {
        return s == null ? "" : s.replaceAll("\\s*[\\r\\n]+\\s*", " ").strip();
    }
}
