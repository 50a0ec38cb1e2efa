// A standalone Gradle build for the Android library (AAR) of the Qtum Lightning SDK.
// scripts/build-android.sh fills src/main/jniLibs and src/main/kotlin first.
pluginManagement {
    repositories {
        google()
        mavenCentral()
        gradlePluginPortal()
    }
}

dependencyResolutionManagement {
    repositoriesMode.set(RepositoriesMode.FAIL_ON_PROJECT_REPOS)
    repositories {
        google()
        mavenCentral()
    }
}

rootProject.name = "qtum-lightning-android"
