package io.jvit.loader;

import java.io.IOException;

/**
 * A model file that cannot be read as what it claims to be: truncated, inconsistent, lying about its
 * sizes. The message is one line that names the file and, where there is one, the tensor or node.
 */
public class ModelFormatException extends IOException {
    public ModelFormatException(String message) {
        super(message);
    }

    public ModelFormatException(String message, Throwable cause) {
        super(message, cause);
    }
}
