package io.jvit.loader;

/** A well-formed file holding something jvit does not run (not a ViT, an unknown dtype or scheme...). */
public class UnsupportedModelException extends ModelFormatException {
    public UnsupportedModelException(String message) {
        super(message);
    }
}
